/**
 * makeTokenVerifier's cache of verified tokens, at unit level: a reused token costs one signature
 * check, yet the key is consulted on every use (a deleted or replaced key stops the token at
 * once, a changed role applies at once); entries end at exp + skew; the cache is bounded. The
 * observable is the verifier's own `stats()` (signature checks made, tokens cached) and its
 * answers; the keys are real RSA keys and the tokens are signed with jose.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { TokenRefused, makeTokenVerifier } from '../../src/auth/token.ts';
import { manualClock } from '../../src/domain/clock.ts';
import type { ApiKey, Role } from '../../src/domain/types.ts';

const T = 1_750_000_000;
const PUBLIC_URL = 'https://admin.example.com';
const AUD = `${PUBLIC_URL}/AdminInterface/restapi`;

interface Pair {
  privateKey: KeyObject;
  publicKeyPem: string;
}

const newPair = (): Pair => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
};
const pairA = newPair();
const pairB = newPair();

/** A directory of keys the test edits while the verifier runs, as an operator would. */
function keyring() {
  const keys = new Map<string, ApiKey>();
  let lookups = 0;
  return {
    set(accessId: string, pair: Pair, role: Role = 'HelpDeskAdmin') {
      keys.set(accessId, { accessId, role, description: null, publicKeyPem: pair.publicKeyPem, createdAt: new Date(T * 1000).toISOString() });
    },
    delete: (accessId: string) => keys.delete(accessId),
    findKey: async (accessId: string) => {
      lookups++;
      return keys.get(accessId) ?? null;
    },
    lookups: () => lookups,
  };
}

function setup(cacheSize?: number) {
  const clock = manualClock(T * 1000);
  const ring = keyring();
  ring.set('key-a', pairA);
  const verifier = makeTokenVerifier({
    findKey: ring.findKey,
    publicUrl: PUBLIC_URL,
    clock,
    ...(cacheSize !== undefined ? { cacheSize } : {}),
  });
  return { clock, ring, verifier };
}

function token(claims: Record<string, unknown> = {}, pair: Pair = pairA): Promise<string> {
  return new SignJWT({ sub: 'key-a', iat: T, exp: T + 600, aud: AUD, ...claims })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .sign(pair.privateKey);
}

async function refusedWith(p: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(p, TokenRefused, what);
}

describe('makeTokenVerifier: the cache of verified tokens', () => {
  test('a reused token is verified once; the key is still looked up on every use', async () => {
    const { verifier, ring } = setup();
    const t = await token();
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await verifier.verify(`Bearer ${t}`), { kind: 'key', subject: 'key-a', role: 'HelpDeskAdmin' });
    }
    assert.equal(verifier.stats().signatureChecks, 1);
    assert.equal(verifier.stats().cachedTokens, 1);
    assert.equal(ring.lookups(), 5);
    // A different token of the same key is a different entry and costs its own check.
    await verifier.verify(`Bearer ${await token({ jti: 'second' })}`);
    assert.equal(verifier.stats().signatureChecks, 2);
    assert.equal(verifier.stats().cachedTokens, 2);
  });

  test('the scheme or spacing of the header does not matter to the cache', async () => {
    const { verifier } = setup();
    const t = await token();
    await verifier.verify(`Bearer ${t}`);
    await verifier.verify(`bearer ${t}`);
    await verifier.verify(`BEARER   ${t}`);
    assert.equal(verifier.stats().signatureChecks, 1);
  });

  test('cacheSize 0 checks the signature every time', async () => {
    const { verifier } = setup(0);
    const t = await token();
    for (let i = 0; i < 3; i++) await verifier.verify(`Bearer ${t}`);
    assert.equal(verifier.stats().signatureChecks, 3);
    assert.equal(verifier.stats().cachedTokens, 0);
  });

  test('refused tokens are not cached', async () => {
    const { verifier } = setup();
    const bad = await token({ aud: 'https://elsewhere.example.com' });
    await refusedWith(verifier.verify(`Bearer ${bad}`), 'wrong aud');
    await refusedWith(verifier.verify(`Bearer ${bad}`), 'wrong aud again');
    assert.equal(verifier.stats().cachedTokens, 0);
    assert.equal(verifier.stats().signatureChecks, 2);
  });

  test('a deleted key stops its cached token at once, and it stays refused when the key id returns', async () => {
    const { verifier, ring } = setup();
    const t = await token();
    await verifier.verify(`Bearer ${t}`);
    ring.delete('key-a');
    await refusedWith(verifier.verify(`Bearer ${t}`), 'key deleted');
    assert.equal(verifier.stats().cachedTokens, 0);
    // The same access id registered again with another public key: the old token does not verify.
    ring.set('key-a', pairB);
    await refusedWith(verifier.verify(`Bearer ${t}`), 'key replaced');
  });

  test('a replaced public key stops a cached token without a restart', async () => {
    const { verifier, ring } = setup();
    const t = await token();
    await verifier.verify(`Bearer ${t}`);
    ring.set('key-a', pairB);
    await refusedWith(verifier.verify(`Bearer ${t}`), 'cached token, key replaced');
    // Tokens of the new key work.
    assert.equal((await verifier.verify(`Bearer ${await token({}, pairB)}`)).subject, 'key-a');
  });

  test("a cached token carries the key's current role, not the role it was verified with", async () => {
    const { verifier, ring } = setup();
    const t = await token();
    assert.equal((await verifier.verify(`Bearer ${t}`)).role, 'HelpDeskAdmin');
    ring.set('key-a', pairA, 'ReadOnly');
    assert.equal((await verifier.verify(`Bearer ${t}`)).role, 'ReadOnly');
    assert.equal(verifier.stats().signatureChecks, 1);
  });

  test('an entry ends at exp + 60 s: accepted up to then, refused and dropped after', async () => {
    const { verifier, clock } = setup();
    const t = await token({ iat: T, exp: T + 100 });
    await verifier.verify(`Bearer ${t}`);
    clock.set((T + 160) * 1000);
    await verifier.verify(`Bearer ${t}`);
    assert.equal(verifier.stats().signatureChecks, 1, 'served from the cache at exp + 60');
    clock.set((T + 160) * 1000 + 1);
    await refusedWith(verifier.verify(`Bearer ${t}`), 'just past exp + 60');
    assert.equal(verifier.stats().cachedTokens, 0);
    await refusedWith(verifier.verify(`Bearer ${t}`), 'still refused');
  });

  test('the cache is bounded: the oldest entries give way, the newest stay', async () => {
    const { verifier } = setup(3);
    const tokens: string[] = [];
    for (let i = 0; i < 8; i++) tokens.push(await token({ jti: `t${i}` }));
    for (const t of tokens) await verifier.verify(`Bearer ${t}`);
    assert.equal(verifier.stats().cachedTokens, 3);
    assert.equal(verifier.stats().signatureChecks, 8);
    // The last three are cached: no new check.
    for (const t of tokens.slice(-3)) await verifier.verify(`Bearer ${t}`);
    assert.equal(verifier.stats().signatureChecks, 8);
    // The first was evicted: checked again, and the cache stays at its bound.
    await verifier.verify(`Bearer ${tokens[0]}`);
    assert.equal(verifier.stats().signatureChecks, 9);
    assert.equal(verifier.stats().cachedTokens, 3);
  });

  test('a token is refused before any signature check when its header or sub is wrong', async () => {
    const { verifier } = setup();
    await refusedWith(verifier.verify(`Bearer ${await token({ sub: 'nobody' })}`), 'unknown sub');
    const rs512 = await new SignJWT({ sub: 'key-a', iat: T, exp: T + 600, aud: AUD })
      .setProtectedHeader({ alg: 'RS512', typ: 'JWT' })
      .sign(pairA.privateKey);
    await refusedWith(verifier.verify(`Bearer ${rs512}`), 'RS512');
    await refusedWith(verifier.verify(undefined), 'no header');
    assert.equal(verifier.stats().signatureChecks, 0);
  });
});
