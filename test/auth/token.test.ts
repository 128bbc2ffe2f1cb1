/**
 * Spec section 2, rule by rule, over real HTTP: every way a token can be wrong is refused with the
 * one Spring-shaped 403 whose body says nothing of the reason, and every leniency real clients
 * need (float and digit-string NumericDates, the three `aud` forms, `bearer` in any case) is
 * accepted. Times are placed precisely with a manual clock and explicit `iat`/`exp` claims.
 * Signatures are checked on a worker thread, as `serve` does (the other suites check them inline).
 */
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID, sign as rsaSign, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { makeKeyService } from '../../src/auth/keys.ts';
import { manualClock } from '../../src/domain/clock.ts';
import type { Actor } from '../../src/domain/types.ts';
import { API, startServer, type Reply, type TestServer } from '../helpers/server.ts';

const T = 1_750_000_000; // seconds; the server's "now" unless a test says otherwise
const clock = manualClock(T * 1000);
const LOOKUP = '/v1/ds100/lookup';
const LOOKUP_PATH = `${API}${LOOKUP}`;
const operator: Actor = { subject: 'token-test', role: null, clientAddress: 'local', requestId: null };

let server: TestServer;
let rest: string; // the REST base: http://127.0.0.1:PORT/AdminInterface/restapi

before(async () => {
  server = await startServer({ demo: true, clock, signatureThread: true });
  rest = `${server.url}${API}`;
});
after(() => server.close());

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** The claims of a good HelpDeskAdmin token at time T, with `over` applied (undefined removes a claim). */
function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const c: Record<string, unknown> = { sub: server.keys.HelpDeskAdmin.keyFile.accessID, iat: T, exp: T + 600, aud: rest, ...over };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  return c;
}

/** A compact JWS built by hand (so that header and payload can be anything), RS256-signed with `key`. */
function rs256(header: unknown, payload: unknown, key: KeyObject = server.keys.HelpDeskAdmin.privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

const good = (over: Record<string, unknown> = {}): string => rs256({ alg: 'RS256', typ: 'JWT' }, claims(over));

function call(authorization: string | null): Promise<Reply> {
  return server.request('POST', LOOKUP, { deviceSerialNumber: '140100080' }, { authorization });
}

/** The one refusal (spec 1, 2): a 403 in the Spring shape, identical whatever the reason. */
function assertRefusedReply(r: Reply, what: string): void {
  assert.equal(r.status, 403, `${what}: status (body ${r.text})`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, what);
  const body = r.json as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['timestamp', 'status', 'error', 'message', 'path'], what);
  assert.ok(Number.isInteger(body.timestamp) && (body.timestamp as number) > 1_600_000_000_000, `${what}: timestamp in epoch ms`);
  const { timestamp: _, ...rest } = body;
  // Nothing but these: the reason (expired, bad signature, unknown key...) is for the log only.
  assert.deepEqual(rest, { status: 403, error: 'Forbidden', message: 'Server failed to process provided access token', path: LOOKUP_PATH }, what);
  assert.equal(r.headers.get('www-authenticate'), null, `${what}: no WWW-Authenticate hint`);
}

async function refused(token: string, what: string): Promise<void> {
  assertRefusedReply(await call(`Bearer ${token}`), what);
}

async function accepted(token: string, what: string): Promise<void> {
  const r = await call(`Bearer ${token}`);
  assert.equal(r.status, 200, `${what}: expected 200, got ${r.status} ${r.text}`);
  assert.ok(Array.isArray(r.json) && r.json.length > 0, what);
}

describe('a well-formed token', () => {
  test('is accepted, signed by jose exactly as a client would', async () => {
    await accepted(await server.sign(), 'jose-signed token');
    await accepted(good(), 'hand-built token');
  });

  test('is accepted without typ, as the vendor clients do not all send it', async () => {
    await accepted(rs256({ alg: 'RS256' }, claims({ jti: randomUUID() })), 'no typ');
  });
});

describe('alg', () => {
  test('RS512 signed with the right key is refused', async () => {
    await refused(await server.sign({ header: { alg: 'RS512' } }), 'RS512');
  });

  test('ES256 signed with a real EC key is refused', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(privateKey);
    await refused(token, 'ES256');
  });

  test('none, unsigned, is refused', async () => {
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}`;
    await refused(`${unsigned}.`, 'alg none, empty signature');
    // The same with a valid RS256 signature over the same input: the header alone must refuse it.
    const signature = rsaSign('sha256', Buffer.from(unsigned), server.keys.HelpDeskAdmin.privateKey).toString('base64url');
    await refused(`${unsigned}.${signature}`, 'alg none, RS256 signature');
  });

  test('HS256 whose HMAC secret is the server-side PEM public key is refused', async () => {
    const key = await server.store.apiKey(server.keys.HelpDeskAdmin.keyFile.accessID);
    assert.ok(key);
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims())}`;
    for (const secret of [key.publicKeyPem, key.publicKeyPem.trim()]) {
      const mac = createHmac('sha256', secret).update(input).digest('base64url');
      await refused(`${input}.${mac}`, 'HS256 keyed with the public key');
    }
  });

  test('RS256 in another case, or missing, is refused even with a valid RS256 signature', async () => {
    await refused(rs256({ alg: 'rs256', typ: 'JWT' }, claims()), 'alg rs256');
    await refused(rs256({ typ: 'JWT' }, claims()), 'no alg');
    await refused(rs256({ alg: ['RS256'], typ: 'JWT' }, claims()), 'alg array');
  });

  test('a header that brings its own key (jwk) cannot choose the key', async () => {
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = await exportJWK(attacker.publicKey);
    await refused(rs256({ alg: 'RS256', typ: 'JWT', jwk }, claims(), attacker.privateKey), 'embedded jwk');
    await refused(rs256({ alg: 'RS256', typ: 'JWT', kid: 'x' }, claims(), attacker.privateKey), 'attacker key with kid');
  });
});

describe('required claims', () => {
  for (const name of ['sub', 'iat', 'exp', 'aud']) {
    test(`a token without ${name} is refused`, async () => {
      await refused(good({ [name]: undefined }), `missing ${name}`);
      await refused(await server.sign({ claims: { [name]: undefined } }), `missing ${name} (jose)`);
    });
  }

  test('null or empty claims are refused', async () => {
    await refused(good({ sub: '' }), 'empty sub');
    await refused(good({ sub: null }), 'null sub');
    await refused(good({ iat: null }), 'null iat');
    await refused(good({ exp: null }), 'null exp');
    await refused(good({ aud: null }), 'null aud');
  });
});

describe('lifetime and clock skew', () => {
  test('exp - iat = 3600 s is accepted, 3601 s is refused', async () => {
    await accepted(good({ iat: T, exp: T + 3600 }), 'lifetime 3600');
    await refused(good({ iat: T, exp: T + 3601 }), 'lifetime 3601');
    await refused(good({ iat: T - 1, exp: T + 3600 }), 'lifetime 3601, iat in the past');
    await refused(good({ iat: T, exp: T + 3600.5 }), 'lifetime 3600.5');
  });

  test('expired by up to 60 s is accepted, by 61 s is refused', async () => {
    await accepted(good({ iat: T - 600, exp: T - 1 }), 'expired 1 s ago');
    await accepted(good({ iat: T - 660, exp: T - 60 }), 'expired 60 s ago');
    await refused(good({ iat: T - 661, exp: T - 61 }), 'expired 61 s ago');
    await refused(good({ iat: T - 3600, exp: T - 1800 }), 'expired long ago');
  });

  test('iat up to 60 s in the future is accepted, 61 s is refused', async () => {
    await accepted(good({ iat: T + 1, exp: T + 601 }), 'iat 1 s ahead');
    await accepted(good({ iat: T + 60, exp: T + 660 }), 'iat 60 s ahead');
    await refused(good({ iat: T + 61, exp: T + 661 }), 'iat 61 s ahead');
    await refused(good({ iat: T + 3000, exp: T + 3600 }), 'iat far ahead');
  });

  test('a token accepted and cached is refused once the clock passes exp + 60 s', async () => {
    const token = good({ iat: T, exp: T + 120, jti: 'cached-expiry' });
    await accepted(token, 'fresh');
    await accepted(token, 'reused');
    try {
      clock.set((T + 180) * 1000);
      await accepted(token, 'at exp + 60');
      clock.set((T + 181) * 1000);
      await refused(token, 'at exp + 61');
    } finally {
      clock.set(T * 1000);
    }
  });
});

describe('NumericDate leniency', () => {
  test('float iat and exp (Python time.time()) are accepted', async () => {
    await accepted(good({ iat: T + 0.123456, exp: T + 600.987654 }), 'floats');
    await accepted(await server.sign({ claims: { iat: T - 0.5, exp: T + 3599.5 } }), 'floats, lifetime 3600');
  });

  test('digit-string iat and exp (the vendor example) are accepted', async () => {
    await accepted(good({ iat: String(T), exp: String(T + 600) }), 'both strings');
    await accepted(good({ iat: String(T), exp: T + 600 }), 'iat string');
    await accepted(good({ iat: T, exp: String(T + 600) }), 'exp string');
  });

  test('digit strings obey the same lifetime and skew rules', async () => {
    await refused(good({ iat: String(T), exp: String(T + 3601) }), 'string lifetime 3601');
    await refused(good({ iat: String(T - 661), exp: String(T - 61) }), 'string expired');
  });

  for (const bad of ['', 'abc', `${T}.5`, '1.75e9', `+${T}`, `-${T}`, ` ${T}`, `${T} `, `0x${T.toString(16)}`, `${T}a`]) {
    test(`a non-digit string ${JSON.stringify(bad)} is refused as iat and as exp`, async () => {
      await refused(good({ iat: bad }), `iat ${JSON.stringify(bad)}`);
      await refused(good({ exp: bad }), `exp ${JSON.stringify(bad)}`);
    });
  }

  test('other types are refused as iat and exp', async () => {
    for (const bad of [true, {}, [T], [String(T)]]) {
      await refused(good({ iat: bad }), `iat ${JSON.stringify(bad)}`);
      await refused(good({ exp: bad }), `exp ${JSON.stringify(bad)}`);
    }
  });
});

describe('aud', () => {
  test('each accepted form, with and without one trailing slash', async () => {
    const forms = [server.url, rest, `${rest}/v1`];
    for (const form of forms) {
      for (const aud of [form, `${form}/`]) await accepted(good({ aud }), `aud ${aud}`);
    }
  });

  test('an array holding one accepted value is accepted', async () => {
    await accepted(good({ aud: [rest] }), 'aud [rest]');
    await accepted(good({ aud: ['https://other.example.com', `${rest}/v1/`] }), 'aud [other, rest/v1/]');
    await accepted(good({ aud: [server.url] }), 'aud [origin]');
  });

  test('anything else is refused', async () => {
    const port = new URL(server.url).port;
    const wrong: unknown[] = [
      `${server.url}//`,
      `${rest}//`,
      `${rest}/v1//`,
      `${server.url}/AdminInterface`,
      `${server.url}/AdminInterface/`,
      `${rest}/v2`,
      `${rest}/v1/ds100`,
      `${rest}/v1/ds100/lookup`,
      `${rest}?v1`,
      `https://127.0.0.1:${port}${API}`,
      `http://localhost:${port}${API}`,
      `http://127.0.0.1:${Number(port) === 1 ? 2 : 1}${API}`,
      'https://admin.example.com/AdminInterface/restapi',
      `${API}`,
      '',
      42,
      {},
      [],
      ['https://other.example.com'],
      [42],
      [[rest]],
      { aud: rest },
    ];
    for (const aud of wrong) await refused(good({ aud }), `aud ${JSON.stringify(aud)}`);
  });
});

describe('sub and the key behind it', () => {
  test('an unknown sub is refused', async () => {
    await refused(good({ sub: randomUUID() }), 'random sub');
  });

  test("a sub naming another key, signed with one's own key, is refused", async () => {
    await refused(good({ sub: server.keys.SuperAdmin.keyFile.accessID }), 'HelpDeskAdmin key claiming SuperAdmin sub');
  });

  test('a deleted key: a token that worked, and is cached, is refused right after the delete', async () => {
    const keys = makeKeyService({ store: server.store, clock, publicUrl: server.url });
    const { keyFile } = await keys.create(operator, 'HelpDeskAdmin', 'to be deleted');
    const privateKey = createPrivateKey(keyFile.accessKey);
    const token = rs256({ alg: 'RS256', typ: 'JWT' }, claims({ sub: keyFile.accessID }), privateKey);
    await accepted(token, 'before delete');
    await accepted(token, 'before delete, reused (served from the cache)');
    await keys.delete(operator, keyFile.accessID);
    await refused(token, 'after delete');
    await refused(rs256({ alg: 'RS256', typ: 'JWT' }, claims({ sub: keyFile.accessID, jti: 'new' }), privateKey), 'new token after delete');
  });
});

describe('integrity', () => {
  test('a tampered payload is refused', async () => {
    const token = good({ jti: 'tamper' });
    await accepted(token, 'untouched');
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    await refused(`${h}.${b64({ ...payload, exp: T + 3000 })}.${s}`, 'exp moved');
    await refused(`${h}.${b64({ ...payload, sub: server.keys.SuperAdmin.keyFile.accessID })}.${s}`, 'sub swapped');
    await refused(`${h}.${b64({ ...payload, jti: 'other' })}.${s}`, 'ignored claim changed');
    await refused(`${b64({ alg: 'RS256', typ: 'JWT', x: 1 })}.${p}.${s}`, 'header changed');
  });

  test('a tampered or truncated signature is refused', async () => {
    const token = good({ jti: 'signature' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const bytes = Buffer.from(s, 'base64url');
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
    await refused(`${h}.${p}.${bytes.toString('base64url')}`, 'one bit flipped');
    await refused(`${h}.${p}.${s.slice(0, -4)}`, 'truncated');
    await refused(`${h}.${p}.`, 'no signature');
    await refused(`${h}.${p}`, 'two segments');
    await refused(`${token}.${s}`, 'four segments');
  });

  test('a payload with a duplicate claim name is refused', async () => {
    const header = b64({ alg: 'RS256', typ: 'JWT' });
    const c = claims();
    const payload = Buffer.from(
      `{"sub":${JSON.stringify(c.sub)},"sub":"${randomUUID()}","iat":${T},"exp":${T + 600},"aud":${JSON.stringify(rest)}}`,
    ).toString('base64url');
    const input = `${header}.${payload}`;
    await refused(`${input}.${rsaSign('sha256', Buffer.from(input), server.keys.HelpDeskAdmin.privateKey).toString('base64url')}`, 'duplicate sub');
  });
});

describe('the Authorization header', () => {
  test('missing or malformed is refused in the same shape', async () => {
    const token = good({ jti: 'header' });
    assertRefusedReply(await call(null), 'no header');
    for (const authorization of [
      '',
      'Bearer',
      'Bearer ',
      token,
      `Basic ${token}`,
      `Token ${token}`,
      `Bearer ${token} extra`,
      `Bearer ${token},`,
      `Bearer: ${token}`,
      `Bearer ${token.replace(/\./g, ' ')}`,
      'Bearer a.b.c',
      'Bearer ...',
      `Bearer ${'A'.repeat(9000)}.${'A'.repeat(10)}.${'A'.repeat(10)}`,
    ]) {
      assertRefusedReply(await call(authorization), `Authorization ${JSON.stringify(authorization.slice(0, 40))}`);
    }
  });

  test("the 'Bearer' scheme is matched without regard to case", async () => {
    const token = good({ jti: 'scheme' });
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const r = await call(`${scheme} ${token}`);
      assert.equal(r.status, 200, `${scheme}: ${r.text}`);
    }
  });
});

describe('a refusal in the audit trail', () => {
  test('leaves one denied event without a subject, and the route did not run', async () => {
    await server.store.flush();
    const before = (await server.store.audit()).length;
    await refused(good({ exp: T - 3000, iat: T - 3600 }), 'expired');
    await server.store.flush();
    const events = (await server.store.audit()).slice(before);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.outcome, 'denied');
    assert.equal(events[0]!.status, 403);
    assert.equal(events[0]!.operation, 'ds100.lookup');
    assert.equal(events[0]!.subject, null);
  });
});
