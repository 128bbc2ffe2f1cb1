import { isIP } from 'node:net';

/** Whether `host` (a listen address or name) reaches only this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * The warning `serve` gives once at start when bearer tokens would cross the network in clear:
 * plain HTTP on an address other than loopback, with no proxy declared in front (one that
 * terminates TLS is the reason to trust it). Null when there is nothing to say.
 */
export function plainHttpWarning(o: { host: string; tls: boolean; trustProxy: unknown }): string | null {
  const proxied = o.trustProxy !== undefined && o.trustProxy !== null && o.trustProxy !== false;
  if (o.tls || proxied || isLoopback(o.host)) return null;
  return (
    `serving plain HTTP on ${o.host}, which other machines can reach: bearer tokens would cross the network in clear. ` +
    'Serve HTTPS (--tls-cert/--tls-key or --tls-self-signed), or put a TLS-terminating proxy in front and pass --trust-proxy.'
  );
}
