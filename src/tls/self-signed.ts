/**
 * `serve --tls-self-signed`: a local CA and a server certificate it signed, under `<data>/tls/`,
 * made on first start and reused after; the server certificate is issued again (by the same CA)
 * when it nears its end or no longer names the public URL's host. Clients trust the CA file once
 * and keep trusting every renewed server certificate.
 *
 * Loaded only with that flag: @peculiar/x509 needs a global Reflect metadata polyfill.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { checkTlsPair, type TlsPair } from './pair.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

// ECDSA P-256 for both keys: as strong as RSA 3072 (128-bit security), made in milliseconds
// instead of seconds, and spoken by every client that speaks TLS 1.2 (OpenSSL under Python's
// requests and curl, Node, Java).
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

const DAY_MS = 86_400_000;
/** The CA outlives many server certificates; it is replaced only when it nears its end. */
const CA_VALIDITY_DAYS = 3650;
/** Under the 825 days that Apple's platforms accept for any TLS server certificate. */
const SERVER_VALIDITY_DAYS = 397;
/** A certificate with less left than this is issued again at start. */
export const RENEW_WITHIN_DAYS = 30;
/** Clocks of clients a little behind the server's still accept a certificate made just now. */
const BACKDATE_MS = 3_600_000;

/** The hosts every server certificate names besides the public URL's. */
export const LOCAL_HOSTS = ['localhost', '127.0.0.1', '::1'];

export interface SelfSignedFiles {
  dir: string;
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
}

/** Where the files live under a data folder (absolute, since the server prints them). */
export function selfSignedFiles(dataDir: string): SelfSignedFiles {
  const dir = resolve(dataDir, 'tls');
  return { dir, caFile: join(dir, 'ca.pem'), caKeyFile: join(dir, 'ca-key.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') };
}

export interface SelfSignedResult {
  files: SelfSignedFiles;
  pair: TlsPair;
  /** What happened to the CA and to the server certificate, and why, for the start-up lines. */
  ca: 'created' | 'reused';
  server: 'created' | 'reused' | 'renewed';
  reason?: string;
}

export interface SelfSignedOptions {
  dataDir: string;
  /** The public URL's host; the certificate names it with {@link LOCAL_HOSTS}. */
  publicHost: string;
  /** Milliseconds since the epoch; tests pass another to make or find certificates near their end. */
  now?: () => number;
}

/** The CA and server certificate for `publicHost`: reused when still good, made or renewed otherwise. */
export async function ensureSelfSigned(options: SelfSignedOptions): Promise<SelfSignedResult> {
  const now = (options.now ?? Date.now)();
  const files = selfSignedFiles(options.dataDir);
  const hosts = [...new Set([options.publicHost.replace(/^\[|\]$/g, '').toLowerCase(), ...LOCAL_HOSTS])];
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  chmodSync(files.dir, 0o700);

  let ca = await loadCa(files, now);
  const caState = ca ? 'reused' : 'created';
  ca ??= await createCa(files, now);

  const problem = serverProblem(files, ca.cert, hosts, now);
  if (problem === null) return { files, pair: checkTlsPair(readFileSync(files.certFile, 'utf8'), readFileSync(files.keyFile, 'utf8'), files), ca: caState, server: 'reused' };
  const pair = await issueServer(files, ca, hosts, now);
  const fresh = caState === 'created' || problem === 'missing';
  return { files, pair, ca: caState, server: fresh ? 'created' : 'renewed', ...(fresh ? {} : { reason: problem }) };
}

interface Ca {
  cert: X509Certificate;
  signingKey: CryptoKey;
}

/** The CA from its files, or null when they are missing, broken or near their end. */
async function loadCa(files: SelfSignedFiles, now: number): Promise<Ca | null> {
  if (!existsSync(files.caFile) || !existsSync(files.caKeyFile)) return null;
  try {
    const cert = new X509Certificate(readFileSync(files.caFile));
    const key = createPrivateKey(readFileSync(files.caKeyFile));
    if (!cert.ca || !cert.checkPrivateKey(key) || Date.parse(cert.validTo) - now < RENEW_WITHIN_DAYS * DAY_MS) return null;
    const der = key.export({ format: 'der', type: 'pkcs8' });
    return { cert, signingKey: await webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']) };
  } catch {
    return null;
  }
}

/** Why the server certificate must be issued again, or null when it may be reused. */
function serverProblem(files: SelfSignedFiles, ca: X509Certificate, hosts: string[], now: number): string | null {
  if (!existsSync(files.certFile) || !existsSync(files.keyFile)) return 'missing';
  let leaf: X509Certificate;
  try {
    checkTlsPair(readFileSync(files.certFile, 'utf8'), readFileSync(files.keyFile, 'utf8'), files);
    leaf = new X509Certificate(readFileSync(files.certFile));
  } catch (error) {
    return `it does not load (${(error as Error).message})`;
  }
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return 'it was not signed by the CA in the same folder';
  const left = Date.parse(leaf.validTo) - now;
  if (left < RENEW_WITHIN_DAYS * DAY_MS) return `it expires ${new Date(leaf.validTo).toISOString()}, within ${RENEW_WITHIN_DAYS} days`;
  const missing = hosts.filter((h) => (isIP(h) ? leaf.checkIP(h) : leaf.checkHost(h, { wildcards: false })) === undefined);
  if (missing.length > 0) return `it does not name ${missing.join(', ')}`;
  return null;
}

const serial = (): string => {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40; // positive, and no leading zero byte for DER to drop
  return bytes.toString('hex');
};

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(keys: CryptoKeyPair): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey), 'PRIVATE KEY');
}

/** Writes a file whole or not at all; private keys are 0600 from their first byte. */
function writeAtomically(path: string, text: string, mode: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  rmSync(temporary, { force: true });
  writeFileSync(temporary, text, { mode, flag: 'wx' });
  renameSync(temporary, path);
}

async function createCa(files: SelfSignedFiles, now: number): Promise<Ca> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    // A tag of its own, so that two such CAs in one trust store can be told apart.
    name: `CN=ds100-admin local CA ${randomBytes(4).toString('hex')}, O=ds100-admin`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writeAtomically(files.caKeyFile, await privateKeyPem(keys), 0o600);
  writeAtomically(files.caFile, cert.toString('pem') + '\n', 0o644);
  return { cert: new X509Certificate(cert.toString('pem')), signingKey: keys.privateKey };
}

async function issueServer(files: SelfSignedFiles, ca: Ca, hosts: string[], now: number): Promise<TlsPair> {
  const keys = await newKeys();
  const caCert = new x509.X509Certificate(ca.cert.raw);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=ds100-admin server, O=ds100-admin',
    issuer: caCert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + SERVER_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const keyPem = await privateKeyPem(keys);
  // The key first: a start interrupted between the two writes finds a pair that does not
  // match, and issues both again.
  writeAtomically(files.keyFile, keyPem, 0o600);
  writeAtomically(files.certFile, cert.toString('pem') + '\n', 0o644);
  return checkTlsPair(cert.toString('pem'), keyPem, files);
}
