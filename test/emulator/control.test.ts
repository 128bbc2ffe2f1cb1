/**
 * `ds100-admin emulate`'s control API over real HTTP (src/emulator/): its refusal without the
 * control token, its absence under `serve`, reset, seed, the clock, faults and the journal, and
 * the SDK's retries seen through injected faults and the journal.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign as rsaSign } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ConnectionError, Ds100AdminClient, OAuthTokenError, ServerError, type RetryEvent } from '@ds100-admin/sdk';
import { startEmulator, type Emulator } from '../../src/emulator/index.ts';
import { EmulatorControlError } from '../../src/emulator/control-client.ts';
import { API, startServer } from '../support/server.ts';

const USER = 'seed-user-1';
const DEVICE = '150100001';
const TOKEN = '015010000131';
const LOOKUP = `${API}/v1/ds100/lookup`;
const seed = {
  users: [{ id: USER, email: 'pat.seed@example.com', firstName: 'Pat', lastName: 'Seed' }],
  registrations: [{ user: USER, deviceSerialNumber: DEVICE, tokenSerialNumber: TOKEN, tokenStatus: 'Disabled' as const, pinSet: true }],
  oauthClients: [{ clientId: 'seed-reader', scopes: ['rsa.authenticator.ds100.read' as const], alg: 'ES256' as const, description: 'reads DS100s' }],
};

let emulator: Emulator;
before(async () => {
  emulator = await startEmulator({ seed });
});
after(() => emulator.close());
beforeEach(() => emulator.control.reset());

interface KeyFileJson {
  accessID: string;
  accessKey: string;
  adminRestApiUrl: string;
}
const keyFile = (role: 'SuperAdmin' | 'HelpDeskAdmin' | 'ReadOnly'): KeyFileJson => JSON.parse(readFileSync(emulator.keyFiles[role], 'utf8')) as KeyFileJson;

/** An RS256 token as a client signs it, at `nowSeconds`. */
function token(nowSeconds: number, role: 'HelpDeskAdmin' | 'ReadOnly' = 'HelpDeskAdmin'): string {
  const k = keyFile(role);
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: k.accessID, iat: nowSeconds, exp: nowSeconds + 600, aud: k.adminRestApiUrl })}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), createPrivateKey(k.accessKey)).toString('base64url')}`;
}

async function call(method: string, url: string, body?: unknown, authorization?: string) {
  const res = await fetch(url, {
    method,
    headers: { ...(authorization ? { authorization } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : null };
}

const lookupAs = (authorization: string) => call('POST', `${emulator.baseUrl}${LOOKUP}`, { deviceSerialNumber: DEVICE }, authorization);
const client = (events: RetryEvent[] = []) =>
  Ds100AdminClient.fromKeyFile(emulator.keyFiles.HelpDeskAdmin, { retry: { baseDelayMs: 5, maxDelayMs: 50, onRetry: (e) => events.push(e) } });

const CONTROL_ROUTES: Array<[string, string, unknown?]> = [
  ['POST', '/reset'],
  ['POST', '/seed', { users: [{ email: 'x@example.com' }] }],
  ['GET', '/clock'],
  ['PUT', '/clock', { offsetSeconds: 10 }],
  ['GET', '/faults'],
  ['POST', '/faults', { path: '/v1/ds100/lookup', status: 500 }],
  ['DELETE', '/faults'],
  ['DELETE', '/faults/fault-1'],
  ['GET', '/requests'],
  ['DELETE', '/requests'],
];

describe('the control API', () => {
  test('refuses every route without the control token, or with another, and changes nothing', async () => {
    for (const [method, path, body] of CONTROL_ROUTES) {
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token(Math.floor(Date.now() / 1000), 'HelpDeskAdmin')}`, emulator.controlToken]) {
        const r = await call(method, `${emulator.controlUrl}${path}`, body, authorization);
        assert.equal(r.status, 401, `${method} ${path} with ${authorization?.slice(0, 12)}`);
        assert.deepEqual(Object.keys(r.json as object), ['code', 'description']);
        assert.equal((r.json as { code: string }).code, '401 UNAUTHORIZED');
      }
    }
    assert.equal((await emulator.control.clock()).offsetSeconds < 1, true, 'the clock was not moved');
    assert.deepEqual(await emulator.control.faults(), []);
    assert.equal((await call('POST', `${emulator.baseUrl}/AdminInterface/restapi/v1/users/lookup`, { email: 'x@example.com' }, `Bearer ${token(Math.floor(Date.now() / 1000))}`)).status, 404);
  });

  test('does not exist under serve, with or without a token', async () => {
    const server = await startServer();
    try {
      for (const [method, path, body] of CONTROL_ROUTES) {
        for (const authorization of [undefined, `Bearer ${emulator.controlToken}`]) {
          const r = await call(method, `${server.url}/_emulator${path}`, body, authorization);
          assert.equal(r.status, 404, `${method} ${path}`);
          assert.equal((r.json as { code: string }).code, '404 NOT_FOUND');
        }
      }
    } finally {
      await server.close();
    }
  });
});

describe('seed and reset', () => {
  test('the start-up seed is there with the ids it pinned, status and PIN as given', async () => {
    const [record] = (await (await client()).lookupDs100({ deviceSerialNumber: DEVICE })) as Array<{ tokenStatus: string; pinSet: boolean; userId: string; tokenSerialNumber: string }>;
    assert.deepEqual([record?.userId, record?.tokenSerialNumber, record?.tokenStatus, record?.pinSet], [USER, TOKEN, 'Disabled', true]);
  });

  test('reset undoes changes made through the API and records seeded since, and keeps the seeded keys', async () => {
    const sdk = await client();
    await sdk.enableOtp({ deviceSerialNumber: DEVICE, userId: USER });
    const added = await emulator.control.seed({ users: [{ id: 'later', email: 'later@example.com' }], keys: [{ role: 'ReadOnly' }] });
    assert.deepEqual(added.users, ['later']);
    assert.equal(added.keys.length, 1);
    assert.ok(readFileSync(added.keys[0]!.keyFile, 'utf8').includes(added.keys[0]!.accessId));
    await sdk.lookupUser({ email: 'later@example.com' });
    const gone = await Ds100AdminClient.fromKeyFile(added.keys[0]!.keyFile, { retry: false });

    const { tookMs } = await emulator.control.reset();
    assert.equal(typeof tookMs, 'number');
    const [record] = await sdk.lookupDs100({ deviceSerialNumber: DEVICE });
    assert.equal(record?.tokenStatus, 'Disabled');
    await assert.rejects(sdk.lookupUser({ email: 'later@example.com' }), { status: 404 });
    await assert.rejects(gone.lookupDs100({ deviceSerialNumber: DEVICE }), { status: 403 });
    assert.equal(existsSync(added.keys[0]!.keyFile), false, 'the key file of a key seeded after start-up goes with it');
  });

  test('a seed that breaks a rule is refused whole, naming the record', async () => {
    await assert.rejects(
      emulator.control.seed({
        users: [{ id: 'fresh', email: 'fresh@example.com' }],
        registrations: [{ user: 'fresh', deviceSerialNumber: '1', tokenSerialNumber: TOKEN }],
      }),
      (e: EmulatorControlError) => e.status === 409 && /registrations\/0: OTP credential 015010000131 already exists/.test(e.message),
    );
    await assert.rejects((await client()).lookupUser({ email: 'fresh@example.com' }), { status: 404 });
    await assert.rejects(emulator.control.seed({ users: [{ email: 7 }] } as never), (e: EmulatorControlError) => e.status === 400 && /\/users\/0\/email/.test(e.message));
  });

});

describe('OAuth clients', () => {
  /** An SDK client of an OAuth client, from its JWK file or JWK. */
  const oauthClient = (clientId: string, key: { jwkFile: string } | { jwk: object }) =>
    Ds100AdminClient.fromOAuthClient({ ...key, clientId, issuer: emulator.issuerUrl, retry: false } as Parameters<typeof Ds100AdminClient.fromOAuthClient>[0]);
  const refusedAsUnknown = (e: unknown) => e instanceof OAuthTokenError && e.status === 401 && /invalid_client/.test(e.message);

  test('the start-up line names a default client with every scope, whose JWK file gets a token that reads and changes', async () => {
    assert.equal(emulator.issuerUrl, `${emulator.baseUrl}/oauth`);
    assert.equal(statSync(emulator.oauthClientJwkFile).mode & 0o777, 0o600);
    const jwk = JSON.parse(readFileSync(emulator.oauthClientJwkFile, 'utf8')) as Record<string, string>;
    assert.deepEqual([jwk.kty, jwk.alg, jwk.use, typeof jwk.d, typeof jwk.kid], ['RSA', 'RS256', 'sig', 'string', 'string']);
    const listed = emulator.oauthClients.find((c) => c.clientId === emulator.oauthClientId);
    assert.deepEqual([listed?.jwkFile, listed?.scopes.length], [emulator.oauthClientJwkFile, 6]);

    const sdk = await oauthClient(emulator.oauthClientId, { jwkFile: emulator.oauthClientJwkFile });
    assert.equal((await sdk.lookupUser({ email: 'pat.seed@example.com' })).id, USER);
    const [enabled] = await sdk.enableOtp({ deviceSerialNumber: DEVICE, userId: USER });
    assert.equal(enabled?.tokenStatus, 'Enabled');
    const [changed] = await emulator.control.requests({ path: '/v1/ds100/enable/otp' });
    assert.deepEqual(changed?.caller, { accessId: emulator.oauthClientId, role: null, verified: true });
  });

  test('a client of the start-up seed keeps its pinned id and scopes, and is refused what they do not cover, before and after a reset', async () => {
    const seeded = emulator.oauthClients.find((c) => c.clientId === 'seed-reader');
    assert.deepEqual([seeded?.alg, seeded?.scopes], ['ES256', ['rsa.authenticator.ds100.read']]);
    for (let round = 0; round < 2; round++) {
      const reader = await oauthClient('seed-reader', { jwkFile: seeded!.jwkFile! });
      assert.equal((await reader.lookupDs100({ deviceSerialNumber: DEVICE }))[0]?.tokenSerialNumber, TOKEN);
      await assert.rejects(reader.lookupUser({ email: 'pat.seed@example.com' }), { status: 403 });
      await emulator.control.reset();
    }
  });

  test('seeded through the control API: one whose key the emulator makes, one with the public JWK a test made; a reset drops both and the file', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privateJwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256' };
    const added = await emulator.control.seed({
      users: [{ id: 'oauth-user', email: 'oauth.user@example.com' }],
      oauthClients: [
        { clientId: 'made-here', scopes: ['rsa.user.read'], alg: 'ES256' },
        { clientId: 'brought', scopes: ['rsa.user.read', 'rsa.authenticator.ds100.read'], publicKey: publicKey.export({ format: 'jwk' }) },
      ],
    });
    assert.deepEqual(added.users, ['oauth-user']);
    const [madeHere, brought] = added.oauthClients;
    assert.deepEqual([madeHere?.clientId, madeHere?.alg, brought?.clientId, brought?.alg, brought?.jwkFile], ['made-here', 'ES256', 'brought', 'ES256', null]);
    assert.equal(statSync(madeHere!.jwkFile!).mode & 0o777, 0o600);

    const viaFile = await oauthClient('made-here', { jwkFile: madeHere!.jwkFile! });
    const viaJwk = await oauthClient('brought', { jwk: privateJwk });
    assert.equal((await viaFile.lookupUser({ email: 'oauth.user@example.com' })).id, 'oauth-user');
    assert.equal((await viaJwk.lookupDs100({ deviceSerialNumber: DEVICE }))[0]?.userId, USER);

    await emulator.control.reset();
    assert.equal(existsSync(madeHere!.jwkFile!), false, 'the JWK file of a client seeded after start-up goes with it');
    await assert.rejects((await oauthClient('brought', { jwk: privateJwk })).lookupDs100({ deviceSerialNumber: DEVICE }), refusedAsUnknown);
    await assert.rejects((await oauthClient('made-here', { jwk: privateJwk })).lookupUser({ email: 'pat.seed@example.com' }), refusedAsUnknown);
    const stillThere = await oauthClient(emulator.oauthClientId, { jwkFile: emulator.oauthClientJwkFile });
    assert.equal((await stillThere.lookupUser({ email: 'pat.seed@example.com' })).id, USER);
    // The pinned id, and its file name, are free again.
    const again = await emulator.control.seed({ oauthClients: [{ clientId: 'made-here', alg: 'ES256' }] });
    assert.equal(again.oauthClients[0]?.jwkFile, madeHere!.jwkFile);
  });

  test('a seed with a client that cannot be is refused whole, naming the client', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const refusals: Array<[unknown, RegExp]> = [
      [[{ clientId: 'seed-reader' }], /oauthClients\/0: Invalid seed: seed-reader is the id of an OAuth client already there/],
      [[{ clientId: 'twice' }, { clientId: 'twice' }], /oauthClients\/1: Invalid seed: twice is the id of an earlier client/],
      [[{ publicKey: privateKey.export({ format: 'jwk' }) }], /oauthClients\/0: The public key cannot be used: the JWK holds a private key/],
      [[{ publicKey: '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----' }], /oauthClients\/0: The public key cannot be used/],
      [[{ scopes: ['rsa.everything'] }], /\/oauthClients\/0\/scopes\/0/],
      [[{ scopes: [] }], /\/oauthClients\/0\/scopes/],
      [[{ clientId: '../escape' }], /\/oauthClients\/0\/clientId/],
      [[{ alg: 'HS256' }], /\/oauthClients\/0\/alg/],
    ];
    for (const [oauthClients, message] of refusals) {
      await assert.rejects(
        emulator.control.seed({ users: [{ id: 'not-made', email: 'not.made@example.com' }], oauthClients } as never),
        (e: EmulatorControlError) => e.status === 400 && message.test(e.message),
        JSON.stringify(oauthClients),
      );
    }
    await assert.rejects((await client()).lookupUser({ email: 'not.made@example.com' }), { status: 404 });
  });
});

describe('the clock', () => {
  test('a token expired by moving the clock is refused, and a fresh one accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const early = `Bearer ${token(now)}`;
    assert.equal((await lookupAs(early)).status, 200);
    const state = await emulator.control.setClock({ offsetSeconds: 2 * 3600 });
    assert.equal(state.frozen, false);
    const refused = await lookupAs(early);
    assert.equal(refused.status, 403);
    assert.equal((refused.json as { message: string }).message, 'Expired Access Token is not allowed');
    // The refusal's timestamp is the emulated moment, not the real one.
    assert.ok((refused.json as { timestamp: number }).timestamp >= (now + 2 * 3600) * 1000);
    assert.equal((await lookupAs(`Bearer ${token(now + 2 * 3600)}`)).status, 200);
  });

  test('a frozen clock stands still and stamps the changes the API makes', async () => {
    const at = '2030-01-02T03:04:05.000Z';
    const set = await emulator.control.setClock({ now: at, frozen: true });
    assert.deepEqual([set.now, set.frozen], [at, true]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((await emulator.control.clock()).now, at, 'still');
    const t = Date.parse(at) / 1000;
    const [item] = (await lookupAs(`Bearer ${token(t)}`)).json as Array<{ tokenStatus: string }>;
    assert.equal(item?.tokenStatus, 'Disabled');
    const r = await call('PATCH', `${emulator.baseUrl}${API}/v1/ds100/enable/otp`, { deviceSerialNumber: DEVICE, userId: USER }, `Bearer ${token(t)}`);
    assert.equal((r.json as Array<{ tokenStatusChangedAt: string }>)[0]?.tokenStatusChangedAt, at);
    assert.equal((await emulator.control.setClock({ advanceSeconds: 60 })).now, '2030-01-02T03:05:05.000Z');
  });

  test('a clock change that is not one is refused', async () => {
    for (const bad of [{}, { now: 'yesterday' }, { offsetSeconds: 'x' }, { frozen: true, extra: 1 }]) {
      await assert.rejects(emulator.control.setClock(bad as never), (e: EmulatorControlError) => e.status === 400, JSON.stringify(bad));
    }
  });
});

describe('faults and the journal', () => {
  test('the SDK retries injected 429s, honouring Retry-After, as the journal shows', async () => {
    const rule = await emulator.control.addFault({ method: 'POST', path: '/v1/ds100/lookup', status: 429, retryAfterSeconds: 1, count: 2 });
    const events: RetryEvent[] = [];
    const records = await (await client(events)).lookupDs100({ deviceSerialNumber: DEVICE });
    assert.equal(records.length, 1);
    const journal = await emulator.control.requests({ path: '/v1/ds100/lookup' });
    assert.deepEqual(journal.map((e) => [e.status, e.fault]), [[429, rule.id], [429, rule.id], [200, null]]);
    assert.deepEqual(journal[0]!.answer, { code: '429 TOO_MANY_REQUESTS', description: 'Too many requests.' });
    assert.deepEqual(events.map((e) => e.reason), ['429', '429']);
    for (const e of events) assert.ok(e.delayMs >= 1000, `waited ${e.delayMs} ms after Retry-After: 1`);
    for (let i = 1; i < journal.length; i++) assert.ok(Date.parse(journal[i]!.at) - Date.parse(journal[i - 1]!.at) >= 1000, 'attempts a Retry-After apart');
    assert.deepEqual((await emulator.control.faults()).map((f) => [f.hits, f.remaining]), [[2, 0]]);
  });

  test('an injected 429 carries the headers and body of a real one', async () => {
    await emulator.control.addFault({ path: '/v1/ds100/lookup', status: 429, retryAfterSeconds: 7 });
    const r = await lookupAs(`Bearer ${token(Math.floor(Date.now() / 1000))}`);
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '7');
    for (const h of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-request-id']) assert.ok(r.headers.get(h), h);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.deepEqual(r.json, { code: '429 TOO_MANY_REQUESTS', description: 'Too many requests.' });
  });

  test('the SDK retries an injected 503 and a closed connection, and gives up on a 500', async () => {
    await emulator.control.addFault({ path: '/v1/users/lookup', status: 503, count: 1 });
    await emulator.control.addFault({ path: '/v1/users/lookup', close: true, count: 1 });
    const events: RetryEvent[] = [];
    const sdk = await client(events);
    assert.equal((await sdk.lookupUser({ email: 'pat.seed@example.com' })).id, USER);
    assert.equal(events[0]?.reason, '503');
    assert.ok(events[1]?.error instanceof ConnectionError, `second retry after a closed connection, got ${events[1]?.reason}`);
    const journal = await emulator.control.requests({ path: '/v1/users/lookup' });
    assert.deepEqual(journal.map((e) => e.status), [503, null, 200]);
    assert.deepEqual(journal[0]!.answer, { code: '503 SERVICE_UNAVAILABLE', description: 'The service is not ready.' });

    await emulator.control.addFault({ path: '/v1/users/*', status: 500 });
    await assert.rejects(sdk.lookupUser({ email: 'pat.seed@example.com' }), (e: unknown) => e instanceof ServerError && e.status === 500);
    assert.equal((await emulator.control.requests({ path: '/v1/users/lookup', status: 500 })).length, 1, 'a 500 is not retried');
  });

  test('a rule matches a body member, and a probability of 0 never fires', async () => {
    await emulator.control.addFault({ path: '/v1/ds100/lookup', body: { deviceSerialNumber: 'other' }, status: 504 });
    await emulator.control.addFault({ path: '/v1/ds100/lookup', status: 500, probability: 0 });
    const auth = `Bearer ${token(Math.floor(Date.now() / 1000))}`;
    assert.equal((await lookupAs(auth)).status, 200);
    const other = await call('POST', `${emulator.baseUrl}${LOOKUP}`, { deviceSerialNumber: 'other' }, auth);
    assert.equal(other.status, 504);
    assert.deepEqual(other.json, { code: '504 GATEWAY_TIMEOUT', description: 'The server did not answer in time.' });
    await assert.rejects(emulator.control.addFault({ path: '/x', status: 418 } as never), (e: EmulatorControlError) => e.status === 400);
    await assert.rejects(emulator.control.addFault({ path: '/x' }), (e: EmulatorControlError) => e.status === 400);
    await assert.rejects(emulator.control.removeFault('fault-999'), (e: EmulatorControlError) => e.status === 404);
    await emulator.control.clearFaults();
    assert.deepEqual(await emulator.control.faults(), []);
  });

  test('the journal says who called and what came back, never the Authorization header', async () => {
    const good = token(Math.floor(Date.now() / 1000));
    await lookupAs(`Bearer ${good}`);
    const forged = `${good.slice(0, good.lastIndexOf('.'))}.AAAA`;
    await lookupAs(`Bearer ${forged}`);
    const entries = await emulator.control.requests();
    assert.equal(entries.length, 2);
    const [ok, refused] = entries;
    assert.deepEqual(ok!.caller, { accessId: keyFile('HelpDeskAdmin').accessID, role: 'HelpDeskAdmin', verified: true });
    assert.deepEqual([ok!.method, ok!.path, ok!.body, ok!.status], ['POST', LOOKUP, { deviceSerialNumber: DEVICE }, 200]);
    assert.equal((ok!.answer as unknown[]).length, 1);
    assert.deepEqual(refused!.caller, { accessId: keyFile('HelpDeskAdmin').accessID, role: null, verified: false });
    assert.equal(refused!.status, 403);
    const text = JSON.stringify(entries);
    assert.ok(!text.includes(good.split('.')[2]!) && !/authorization/i.test(text), 'no token, no Authorization');
    assert.equal((await emulator.control.requests({ status: 403 })).length, 1);
    assert.equal((await emulator.control.requests({ since: ok!.seq })).length, 1);
    await emulator.control.clearRequests();
    assert.deepEqual(await emulator.control.requests(), []);
  });
});

test('emulate with tlsSelfSigned serves HTTPS: a client trusting the printed CA gets through, one that does not is refused', async () => {
  const tls = await startEmulator({ tlsSelfSigned: true, demo: true });
  try {
    assert.match(tls.baseUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(tls.caFile, 'the JSON line names the CA file');
    const trusting = await Ds100AdminClient.fromKeyFile(tls.keyFiles.ReadOnly, { ca: readFileSync(tls.caFile!, 'utf8'), retry: false });
    assert.equal((await trusting.lookupUser({ email: 'jane.doe@example.com' })).id, 'ece30fe9-414c-7536-5403-0656220b3046');
    const untrusting = await Ds100AdminClient.fromKeyFile(tls.keyFiles.ReadOnly, { retry: false });
    await assert.rejects(untrusting.lookupUser({ email: 'jane.doe@example.com' }), (e: unknown) => e instanceof ConnectionError);
  } finally {
    await tls.close();
  }
});
