/**
 * One HTTP exchange over node:http / node:https, with a keep-alive agent per client. Not the
 * global fetch: undici takes a CA per request only through its own package, and the SDK has no
 * dependencies. node:https honours NODE_EXTRA_CA_CERTS as fetch does.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface Exchange {
  status: number;
  /** A response header, its first value when it came several times. */
  header(name: string): string | undefined;
  text: string;
}

/** Keep-alive agents for one client; `ca` replaces the default trusted CAs for HTTPS. */
export interface Agents {
  http: HttpAgent;
  https: HttpsAgent;
}

export function makeAgents(ca: string | Buffer | undefined): Agents {
  return { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) }) };
}

/**
 * Sends one request and reads the whole answer. Redirects are not followed (the caller reports
 * them). Rejects with Node's network error (its `code`: ECONNREFUSED, ECONNRESET,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...), or with `signal.reason` once `signal` fires.
 */
export function exchange(
  url: string,
  o: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal; agents: Agents },
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    // A GET carries no body, and so no Content-Length.
    const body = o.body === undefined ? undefined : Buffer.from(o.body);
    const req = (secure ? httpsRequest : httpRequest)(target, {
      method: o.method,
      headers: body === undefined ? o.headers : { ...o.headers, 'content-length': String(body.length) },
      agent: secure ? o.agents.https : o.agents.http,
    });
    const onAbort = () => req.destroy(o.signal.reason instanceof Error ? o.signal.reason : new Error('aborted', { cause: o.signal.reason }));
    if (o.signal.aborted) onAbort();
    else o.signal.addEventListener('abort', onAbort, { once: true });
    const fail = (error: Error) => {
      o.signal.removeEventListener('abort', onAbort);
      reject(error);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete) fail(Object.assign(new Error('the connection closed before the whole answer arrived'), { code: 'ECONNRESET' }));
      });
      res.on('end', () => {
        o.signal.removeEventListener('abort', onAbort);
        const headers: IncomingHttpHeaders = res.headers;
        resolve({
          status: res.statusCode ?? 0,
          header: (name) => {
            const v = headers[name.toLowerCase()];
            return Array.isArray(v) ? v[0] : v;
          },
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end(body);
  });
}
