import { generateKeyPair } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REST_BASE_PATH } from '../contract/limits.ts';
import type { KeyFile } from '../contract/schemas.ts';

export type { KeyFile };

/** The REST base for a public URL: `{publicUrl}/AdminInterface/restapi`. */
export function adminRestApiUrl(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${REST_BASE_PATH}`;
}

/**
 * A new RSA key pair: the private half in PKCS#1 PEM, as the vendor's Java and Python clients
 * read it, and the public half in SPKI PEM for the server to keep.
 */
export async function generateRsaKeyPair(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/**
 * Writes `<dir>/<accessID>.key` readable by its owner only, and returns its path. The file is
 * created exclusively (an existing file is never overwritten), and removed again if it cannot
 * be written whole.
 */
export function writeKeyFile(dir: string, keyFile: KeyFile): Promise<string> {
  return writeSecretFile(dir, `${keyFile.accessID}.key`, keyFile);
}

/**
 * Writes `value` as JSON to `<dir>/<name>`, readable by its owner only (mode 0600 whatever the
 * umask, in a folder made 0700), and returns its path. Created exclusively: an existing file is
 * never overwritten; removed again if it cannot be written whole. For files that hold a private key.
 */
export async function writeSecretFile(dir: string, name: string, value: unknown): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, name);
  const file = await open(path, 'wx', 0o600);
  try {
    // The mode given to open is narrowed by the umask only; this makes it 0600 whatever the umask.
    await file.chmod(0o600);
    await file.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await file.close();
  } catch (error) {
    await file.close().catch(() => {});
    await rm(path, { force: true });
    throw error;
  }
  return path;
}
