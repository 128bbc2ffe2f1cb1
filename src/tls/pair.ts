/**
 * The certificate and key `serve` answers TLS with: read from PEM files, checked before use (at
 * start and on every SIGHUP), and the options Node's TLS server takes. Nothing here writes a key
 * or its text anywhere: an error names the file and what is wrong with it, never its contents.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** The oldest protocol served: TLS 1.0 and 1.1 are refused in the handshake (contract 9). */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** A certificate (chain) and its private key, checked to belong together. */
export interface TlsPair {
  /** PEM: the server certificate first, then any intermediates. */
  cert: string;
  /** PEM private key (RSA or EC). */
  key: string;
  /** The server certificate's serial number (hex) and expiry, for the log. */
  serial: string;
  validTo: string;
}

/** A certificate or key that cannot be served; the message names the file and the reason. */
export class TlsPairError extends Error {}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new TlsPairError(`cannot read the TLS ${what} ${file}: ${e.code ?? e.message}`);
  }
}

/** Reads and checks a pair; throws a {@link TlsPairError} for anything that could not be served. */
export function loadTlsPair(certFile: string, keyFile: string): TlsPair {
  return checkTlsPair(read(certFile, 'certificate'), read(keyFile, 'key'), { certFile, keyFile });
}

/** Checks PEM text as a pair; `names` are what the error messages call the two parts. */
export function checkTlsPair(certPem: string, keyPem: string, names = { certFile: 'certificate', keyFile: 'key' }): TlsPair {
  const blocks = certPem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsPairError(`the TLS certificate ${names.certFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  let chain: X509Certificate[];
  try {
    chain = blocks.map((b) => new X509Certificate(b));
  } catch (error) {
    throw new TlsPairError(`the TLS certificate ${names.certFile} is not a valid PEM certificate: ${(error as Error).message}`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    // Node's message names the decoder's complaint or a missing passphrase, never key material.
    const e = error as NodeJS.ErrnoException;
    const why = e.code === 'ERR_MISSING_PASSPHRASE' ? 'it is encrypted (give it without a passphrase)' : e.message;
    throw new TlsPairError(`the TLS key ${names.keyFile} is not a PEM private key: ${why}`);
  }
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') {
    throw new TlsPairError(`the TLS key ${names.keyFile} is a ${key.asymmetricKeyType ?? 'unknown'} key; use an RSA or EC key`);
  }
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) {
    throw new TlsPairError(`the TLS key ${names.keyFile} does not match the certificate ${names.certFile} (the first certificate in it is the server's)`);
  }
  const pair = { cert: blocks.join('\n') + '\n', key: keyPem, serial: leaf.serialNumber, validTo: new Date(leaf.validTo).toISOString() };
  try {
    // What OpenSSL itself thinks of them (a key too weak for its security level, say).
    createSecureContext(tlsOptions(pair));
  } catch (error) {
    throw new TlsPairError(`the TLS certificate ${names.certFile} and key ${names.keyFile} are refused by OpenSSL: ${(error as Error).message}`);
  }
  return pair;
}

/** The options Node's TLS server takes for a pair: TLS 1.2 and 1.3 only. */
export function tlsOptions(pair: TlsPair): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: TLS_MIN_VERSION };
}

/**
 * Serves `pair` to the connections that start from now on. Open connections keep the context
 * they were made with, so a keep-alive connection finishes its requests undisturbed.
 */
export function replaceTlsPair(server: unknown, pair: TlsPair): void {
  (server as HttpsServer).setSecureContext(tlsOptions(pair));
}
