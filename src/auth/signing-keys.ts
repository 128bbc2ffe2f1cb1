import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ACCESS_TOKEN_LIFETIME_SECONDS, CLOCK_SKEW_SECONDS, SIGNING_KEY_ROTATION_DAYS } from '../contract/limits.ts';
import type { Clock } from '../domain/clock.ts';
import type { Store, StoreTx } from '../domain/store.ts';
import type { SigningKey } from '../domain/types.ts';

/** How long this instance trusts what it read of a signing key (its retirement may come from another instance). */
const VERIFICATION_KEY_TTL_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * RFC 7638 thumbprint of a public JWK: the base64url SHA-256 of its required members, in
 * lexicographic order. A key id that any party can recompute from the key itself.
 */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** A new P-256 key pair, its kid the thumbprint of its public half. */
export function newSigningKey(createdAt: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    kid: jwkThumbprint(publicKey.export({ format: 'jwk' })),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    createdAt,
    retiredAt: null,
    notAfter: null,
  };
}

/** What verifying a token needs of the key its header names. */
export interface VerificationKey {
  kid: string;
  publicKey: KeyObject;
  retiredAt: number | null;
  notAfter: number | null;
}

/**
 * The server's own ES256 keys, kept in the store so that every instance signs with the current one
 * and verifies with any still valid. The current key is replaced (`rotate`) by `ds100-admin
 * oauth-keys rotate`, or by the first grant that finds it older than SIGNING_KEY_ROTATION_DAYS; a
 * replaced key is retired: it signs nothing more and verifies the tokens it signed until the last
 * of them has expired (`notAfter`), after which it is removed.
 */
export function makeSigningKeys({ store, clock }: { store: Store; clock: Clock }) {
  const verification = new Map<string, { key: VerificationKey | null; readAt: number }>();
  const privateKeys = new Map<string, KeyObject>();

  const iso = (ms: number): string => new Date(ms).toISOString();

  /** Retires `current` (if any) and makes a new key, in `tx`, which holds the lock. */
  async function replace(tx: StoreTx, current: SigningKey | undefined): Promise<SigningKey> {
    const now = clock.now();
    if (current) {
      // The last token the retired key signs is issued now and lives ACCESS_TOKEN_LIFETIME_SECONDS;
      // the skew is the verifier's tolerance on `exp`.
      await tx.retireSigningKey(current.kid, iso(now), iso(now + (ACCESS_TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) * 1000));
    }
    await tx.deleteSigningKeysBefore(iso(now));
    const made = newSigningKey(iso(now));
    await tx.insertSigningKey(made);
    return made;
  }

  const isStale = (k: SigningKey): boolean => clock.now() - Date.parse(k.createdAt) > SIGNING_KEY_ROTATION_DAYS * DAY_MS;

  return {
    /**
     * The key to sign with now, with its private key parsed. Read from the store on every call, so
     * that an instance never signs with a key another instance has retired; made (or replaced)
     * here under the signing keys' lock when there is none or it is too old.
     */
    async current(): Promise<{ kid: string; privateKey: KeyObject }> {
      let key = (await store.signingKeys()).find((k) => k.retiredAt === null);
      if (!key || isStale(key)) {
        key = await store.transaction(async (tx) => {
          await tx.lockSigningKeys();
          const now = (await tx.signingKeys()).find((k) => k.retiredAt === null);
          return now && !isStale(now) ? now : replace(tx, now);
        });
      }
      let privateKey = privateKeys.get(key.kid);
      if (!privateKey) {
        privateKey = createPrivateKey(key.privateKeyPem);
        privateKeys.set(key.kid, privateKey);
      }
      return { kid: key.kid, privateKey };
    },

    /** Retires the current key and makes a new one; returns the new key's kid. */
    async rotate(): Promise<string> {
      const made = await store.transaction(async (tx) => {
        await tx.lockSigningKeys();
        return replace(tx, (await tx.signingKeys()).find((k) => k.retiredAt === null));
      });
      return made.kid;
    },

    /**
     * The public key a token's `kid` names, or null when the store has none by that id. What was
     * read is kept for a minute: a retirement decided elsewhere is seen within it, and a forged
     * `kid` costs one read a minute.
     */
    async forKid(kid: string): Promise<VerificationKey | null> {
      const seen = verification.get(kid);
      if (seen && clock.now() - seen.readAt < VERIFICATION_KEY_TTL_MS) return seen.key;
      const k = await store.signingKey(kid);
      const key = k && {
        kid: k.kid,
        publicKey: createPublicKey(k.publicKeyPem),
        retiredAt: k.retiredAt === null ? null : Date.parse(k.retiredAt) / 1000,
        notAfter: k.notAfter === null ? null : Date.parse(k.notAfter) / 1000,
      };
      if (verification.size >= 1000) verification.clear();
      verification.set(kid, { key, readAt: clock.now() });
      return key;
    },

    /** The JWKS (RFC 7517): the public halves of every key that still verifies tokens. */
    async jwks(): Promise<{ keys: JsonWebKey[] }> {
      const now = clock.now();
      const keys = (await store.signingKeys()).filter((k) => k.notAfter === null || Date.parse(k.notAfter) >= now);
      return { keys: keys.map((k) => ({ ...createPublicKey(k.publicKeyPem).export({ format: 'jwk' }), kid: k.kid, alg: 'ES256', use: 'sig' })) };
    },
  };
}

export type SigningKeys = ReturnType<typeof makeSigningKeys>;
