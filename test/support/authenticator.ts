/**
 * A software WebAuthn authenticator for tests that speak to the console over HTTP without a
 * browser: it makes a P-256 key per credential, answers `navigator.credentials.create()` with a
 * `none` attestation and `.get()` with a signed assertion, user present and verified, exactly as
 * the WebAuthn spec lays the bytes out. The browser suite uses Chromium's virtual authenticator.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/** The little of CBOR that a COSE key and an attestation object need: maps, ints, text, bytes. */
function cbor(value: unknown): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  if (value instanceof Map) {
    return Buffer.concat([head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)])]);
  }
  throw new Error(`cbor: cannot encode ${typeof value}`);
}

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest();
const b64url = (b: Buffer): string => b.toString('base64url');

/** The flags byte: user present, user verified, and attested credential data follows. */
const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

interface Held {
  id: Buffer;
  key: KeyObject;
  userHandle: string;
  counter: number;
}

export interface CreationOptions {
  challenge: string;
  rp: { id?: string };
  user: { id: string };
}
export interface RequestOptions {
  challenge: string;
  rpId?: string;
  allowCredentials?: Array<{ id: string }>;
}

export function softAuthenticator(origin: string) {
  const rpId = new URL(origin).hostname;
  const held: Held[] = [];
  const clientData = (type: string, challenge: string): Buffer => Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  const authData = (flags: number, counter: number, attested?: Buffer): Buffer => {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), c, ...(attested ? [attested] : [])]);
  };

  return {
    held,
    /** `navigator.credentials.create()`: a new credential for the options' user. */
    create(options: CreationOptions, o: { origin?: string; challenge?: string } = {}) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = publicKey.export({ format: 'jwk' });
      const cose = cbor(new Map<number, unknown>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
      const id = randomBytes(16);
      const idLength = Buffer.alloc(2);
      idLength.writeUInt16BE(id.length);
      const attested = Buffer.concat([Buffer.alloc(16), idLength, id, cose]);
      const attestationObject = cbor(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData(UP | UV | AT, 0, attested)]]));
      held.push({ id, key: privateKey, userHandle: options.user.id, counter: 0 });
      const data = o.origin ? Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: o.challenge ?? options.challenge, origin: o.origin })) : clientData('webauthn.create', o.challenge ?? options.challenge);
      return {
        id: b64url(id),
        rawId: b64url(id),
        type: 'public-key',
        clientExtensionResults: {},
        response: { clientDataJSON: b64url(data), attestationObject: b64url(attestationObject), transports: ['internal'] },
      };
    },
    /** `navigator.credentials.get()`: an assertion by the first credential allowed (or held). */
    get(options: RequestOptions, o: { credential?: Held; userVerified?: boolean } = {}) {
      const allowed = options.allowCredentials?.map((c) => c.id) ?? [];
      const cred = o.credential ?? held.find((h) => allowed.length === 0 || allowed.includes(b64url(h.id)));
      if (!cred) throw new Error('no credential for these options');
      cred.counter++;
      const data = authData(UP | (o.userVerified === false ? 0 : UV), cred.counter);
      const client = clientData('webauthn.get', options.challenge);
      const signature = sign('sha256', Buffer.concat([data, sha256(client)]), cred.key);
      return {
        id: b64url(cred.id),
        rawId: b64url(cred.id),
        type: 'public-key',
        clientExtensionResults: {},
        response: { clientDataJSON: b64url(client), authenticatorData: b64url(data), signature: b64url(signature), userHandle: cred.userHandle },
      };
    },
  };
}
export type SoftAuthenticator = ReturnType<typeof softAuthenticator>;
