import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KeyFile } from './wire.ts';
import { KeyFileError } from './errors.ts';

export type { KeyFile };

const PEM_HEADERS = ['-----BEGIN RSA PRIVATE KEY-----', '-----BEGIN PRIVATE KEY-----'];

/**
 * Reads the RSA private key of a key file's `accessKey` (or of a client's `privateKey`): PEM,
 * PKCS#1 (`BEGIN RSA PRIVATE KEY`, what the vendor hands out) or PKCS#8 (`BEGIN PRIVATE KEY`),
 * unencrypted, RSA of at least 2048 bits (RS256 requires it).
 *
 * @example
 * ```ts
 * const key = parsePrivateKey(readFileSync('key.pem', 'utf8'));
 * const client = new Ds100AdminClient({ baseUrl, accessId, privateKey: key });
 * ```
 */
export function parsePrivateKey(pem: string | KeyObject, field = 'accessKey', path?: string): KeyObject {
  let key: KeyObject;
  if (typeof pem === 'string') {
    const text = pem.trim();
    if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type:\s*4,ENCRYPTED/.test(text)) {
      throw new KeyFileError(`${field} is an encrypted private key; the key file holds it unencrypted`, field, path);
    }
    if (!PEM_HEADERS.some((h) => text.startsWith(h))) {
      throw new KeyFileError(
        `${field} is not a PEM private key (expected "-----BEGIN RSA PRIVATE KEY-----" or "-----BEGIN PRIVATE KEY-----")`,
        field,
        path,
      );
    }
    try {
      key = createPrivateKey({ key: text, format: 'pem' });
    } catch (e) {
      throw new KeyFileError(`${field} cannot be read as a private key: ${(e as Error).message}`, field, path, { cause: e });
    }
  } else {
    key = pem;
    if (key.type !== 'private') throw new KeyFileError(`${field} is a ${key.type} key, not a private key`, field, path);
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new KeyFileError(`${field} is a ${key.asymmetricKeyType ?? 'non-RSA'} key; RS256 needs an RSA key`, field, path);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new KeyFileError(`${field} is an RSA key of ${bits} bits; at least 2048 are required`, field, path);
  return key;
}

function requireString(record: Record<string, unknown>, field: string, path: string | undefined): string {
  const v = record[field];
  if (v === undefined || v === null) throw new KeyFileError(`the key file has no ${field}`, field, path);
  if (typeof v !== 'string') throw new KeyFileError(`${field} must be a string, not ${Array.isArray(v) ? 'an array' : typeof v}`, field, path);
  if (v.trim() === '') throw new KeyFileError(`${field} is empty`, field, path);
  return v;
}

function optionalString(record: Record<string, unknown>, field: string, path: string | undefined): string {
  const v = record[field];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new KeyFileError(`${field} must be a string, not ${typeof v}`, field, path);
  return v;
}

/**
 * Checks a key file's JSON object (spec section 2) and returns it typed: `accessID`, `accessKey`
 * (an RSA private key in PEM, PKCS#1 or PKCS#8) and `adminRestApiUrl` (an http or https URL) are
 * required; `customerName` and `description` default to `""`. Throws a {@link KeyFileError}
 * naming the field that is missing or broken.
 *
 * @example
 * ```ts
 * const keyFile = parseKeyFile(JSON.parse(process.env.DS100_KEY_JSON!));
 * const client = Ds100AdminClient.fromKeyFile(keyFile);
 * ```
 */
export function parseKeyFile(value: unknown, path?: string): KeyFile {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeyFileError('the key file is not a JSON object', undefined, path);
  }
  const record = value as Record<string, unknown>;
  const accessID = requireString(record, 'accessID', path);
  const accessKey = requireString(record, 'accessKey', path);
  const url = requireString(record, 'adminRestApiUrl', path);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KeyFileError(`adminRestApiUrl is not a URL: ${JSON.stringify(url)}`, 'adminRestApiUrl', path);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new KeyFileError(`adminRestApiUrl must be an http or https URL, not ${parsed.protocol}`, 'adminRestApiUrl', path);
  }
  parsePrivateKey(accessKey, 'accessKey', path);
  return {
    customerName: optionalString(record, 'customerName', path),
    accessID,
    description: optionalString(record, 'description', path),
    accessKey,
    adminRestApiUrl: url,
  };
}

/**
 * Reads an Administration API key file (`<accessID>.key`, spec section 2) and checks it. Throws a
 * {@link KeyFileError} naming the file and the missing or broken field.
 *
 * @example
 * ```ts
 * const keyFile = await loadKeyFile('./data/keys/139f6495-e447-4a26-a765-5c01b6b152d5.key');
 * console.log(keyFile.accessID, keyFile.adminRestApiUrl);
 * ```
 */
export async function loadKeyFile(path: string): Promise<KeyFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new KeyFileError(`cannot read key file ${path}: ${why}`, undefined, path, { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new KeyFileError(`key file ${path} is not valid JSON: ${(e as Error).message}`, undefined, path, { cause: e });
  }
  try {
    return parseKeyFile(value, path);
  } catch (e) {
    if (e instanceof KeyFileError) throw new KeyFileError(`key file ${path}: ${e.message}`, e.field, path, { cause: e.cause });
    throw e;
  }
}
