/**
 * Spec section 2, rule by rule, over real HTTP: every way a token can be wrong is refused with a
 * Spring-shaped 403 whose message is one of four (spec 1: expired, wrong `aud`, unknown access id,
 * anything else) and never more than the signature has earned, and every leniency real clients
 * need (float and digit-string NumericDates, a lifetime a second over, the three `aud` forms,
 * `bearer` in any case) is accepted. Times are placed precisely with a manual clock and explicit `iat`/`exp` claims.
 * Signatures are checked on a worker thread, as `serve` does (the other suites check them inline).
 */
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID, sign as rsaSign, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { makeKeyService } from '../../src/auth/keys.ts';
import { manualClock } from '../../src/domain/clock.ts';
import type { Actor } from '../../src/domain/types.ts';
import { API, startServer, type Reply, type TestServer } from '../support/server.ts';

const T = 1_750_000_000; // seconds; the server's "now" unless a test says otherwise
const clock = manualClock(T * 1000);
const LOOKUP = '/v1/ds100/lookup';
const LOOKUP_PATH = `${API}${LOOKUP}`;
const operator: Actor = { kind: 'operator', subject: 'token-test', role: null, clientAddress: 'local', requestId: null };

/** The four messages a refused token may get (spec 1, error bodies). */
const GENERIC = 'Server failed to process provided access token';
const EXPIRED = 'Expired Access Token is not allowed';
const AUDIENCE = 'Invalid audience';
const ACCESS_ID = 'Invalid Access Id';
const logLines: string[] = [];

let server: TestServer;
let rest: string; // the REST base: http://127.0.0.1:PORT/AdminInterface/restapi

before(async () => {
  server = await startServer({ demo: true, clock, signatureThread: true, logLines });
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

/** A refusal (spec 1, 2): a 403 in the Spring shape whose only variable part is `message`. */
function assertRefusedReply(r: Reply, what: string, message = GENERIC): void {
  assert.equal(r.status, 403, `${what}: status (body ${r.text})`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, what);
  const body = r.json as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['timestamp', 'status', 'error', 'message', 'path'], what);
  // The moment of the refusal by the server's clock (the manual one here), in epoch milliseconds.
  assert.equal(body.timestamp, clock.now(), `${what}: timestamp`);
  const { timestamp: _, ...rest } = body;
  // Nothing but these: the detail (which claim, which check) is for the log only.
  assert.deepEqual(rest, { status: 403, error: 'Forbidden', message, path: LOOKUP_PATH }, what);
  assert.equal(r.headers.get('www-authenticate'), null, `${what}: no WWW-Authenticate hint`);
}

async function refused(token: string, what: string, message = GENERIC): Promise<void> {
  assertRefusedReply(await call(`Bearer ${token}`), what, message);
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
    // A signed token without aud does not name this server: the client is told its audience is wrong.
    const message = name === 'aud' ? AUDIENCE : GENERIC;
    test(`a token without ${name} is refused: ${message}`, async () => {
      await refused(good({ [name]: undefined }), `missing ${name}`, message);
      await refused(await server.sign({ claims: { [name]: undefined } }), `missing ${name} (jose)`, message);
    });
  }

  test('null or empty claims are refused', async () => {
    await refused(good({ sub: '' }), 'empty sub');
    await refused(good({ sub: null }), 'null sub');
    await refused(good({ iat: null }), 'null iat');
    await refused(good({ exp: null }), 'null exp');
    await refused(good({ aud: null }), 'null aud', AUDIENCE);
  });
});

describe('lifetime and clock skew', () => {
  test('the lifetime counts the whole seconds of iat and exp: up to 3601 is accepted, 3602 is refused', async () => {
    for (const [lifetime, ok] of [[3600, true], [3600.0000002, true], [3600.9, true], [3601, true], [3601.5, true], [3601.9, true], [3602, false], [3602.5, false], [7200, false]] as const) {
      const token = good({ iat: T, exp: T + lifetime });
      if (ok) await accepted(token, `lifetime ${lifetime}`);
      else await refused(token, `lifetime ${lifetime}`);
    }
    await accepted(good({ iat: T - 1, exp: T + 3600 }), 'lifetime 3601, iat in the past');
    await refused(good({ iat: T - 2, exp: T + 3600 }), 'lifetime 3602, iat in the past');
  });

  test('Python clients that read the clock twice, for iat and then for exp, are accepted', async () => {
    // time.time() twice, 0.2 µs apart: exp - iat = 3600.0000002.
    await accepted(good({ iat: T + 0.25, exp: T + 0.2500002 + 3600 }), 'floats, same second');
    // The second read in the next second, floats and integers (int(time.time()) twice).
    await accepted(good({ iat: T + 0.9999999, exp: T + 1.0000001 + 3600 }), 'floats across a second');
    await accepted(good({ iat: T, exp: T + 1 + 3600 }), 'integers across a second');
    await accepted(good({ iat: String(T), exp: String(T + 1 + 3600) }), 'digit strings across a second');
    await accepted(good({ iat: T, exp: T + 1.0000001 + 3600 }), 'integer iat, float exp');
    // The seconds the claims fall in decide, not the difference: 3601.2 s from T + 0.9 spans 3602 of them.
    await refused(good({ iat: T + 0.9, exp: T + 3602.1 }), 'floats, 3602 whole seconds apart');
    await accepted(good({ iat: T + 0.1, exp: T + 3601.9 }), 'floats, 3601 whole seconds apart');
  });

  test('exp more than an hour and a minute ahead of now is refused, whatever the lifetime (the older revision)', async () => {
    await accepted(good({ iat: T + 60, exp: T + 3660 }), 'exp 3660 s ahead');
    await accepted(good({ iat: T + 59, exp: T + 3660 }), 'exp 3660 s ahead, lifetime 3601');
    await refused(good({ iat: T + 60, exp: T + 3661 }), 'exp 3661 s ahead, lifetime 3601');
    await refused(good({ iat: T + 59.5, exp: T + 3660.5 }), 'floats: exp 3660.5 s ahead, lifetime 3601');
    await refused(good({ iat: String(T + 60), exp: String(T + 3661) }), 'digit strings: exp 3661 s ahead, lifetime 3601');
    // The older revision's own edges: exp an hour ahead, iat an hour back (each with the skew).
    await accepted(good({ iat: T, exp: T + 3600 }), 'issued now for an hour');
    await accepted(good({ iat: String(T - 3540), exp: String(T + 60) }), 'issued 59 minutes ago');
    await accepted(good({ iat: T - 3600.5, exp: T - 0.5 }), 'floats: issued an hour ago, ending now');
    await refused(good({ iat: T - 3661, exp: T - 61 }), 'issued an hour and a minute ago, expired', EXPIRED);
  });

  test('expired by up to 60 s is accepted, by 61 s is refused: Expired Access Token is not allowed', async () => {
    await accepted(good({ iat: T - 600, exp: T - 1 }), 'expired 1 s ago');
    await accepted(good({ iat: T - 660, exp: T - 60 }), 'expired 60 s ago');
    await accepted(good({ iat: T - 659.5, exp: T - 59.5 }), 'floats: expired 59.5 s ago');
    await refused(good({ iat: T - 661, exp: T - 61 }), 'expired 61 s ago', EXPIRED);
    await refused(good({ iat: T - 60.75 - 600, exp: T - 60.75 }), 'floats: expired 60.75 s ago', EXPIRED);
    await refused(good({ iat: String(T - 661), exp: String(T - 61) }), 'digit strings: expired 61 s ago', EXPIRED);
    await refused(good({ iat: T - 3600, exp: T - 1800 }), 'expired long ago', EXPIRED);
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
      await refused(token, 'at exp + 61', EXPIRED);
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
    await accepted(good({ iat: String(T), exp: String(T + 3601) }), 'string lifetime 3601');
    await refused(good({ iat: String(T), exp: String(T + 3602) }), 'string lifetime 3602');
    await refused(good({ iat: String(T - 661), exp: String(T - 61) }), 'string expired', EXPIRED);
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
    for (const aud of wrong) await refused(good({ aud }), `aud ${JSON.stringify(aud)}`, AUDIENCE);
  });
});

describe('sub and the key behind it', () => {
  test('an unknown sub is refused: Invalid Access Id', async () => {
    await refused(good({ sub: randomUUID() }), 'random sub', ACCESS_ID);
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
    await refused(token, 'after delete', ACCESS_ID);
    await refused(rs256({ alg: 'RS256', typ: 'JWT' }, claims({ sub: keyFile.accessID, jti: 'new' }), privateKey), 'new token after delete', ACCESS_ID);
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

describe('what a refused token is told', () => {
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const forged = (over: Record<string, unknown>): string => rs256({ alg: 'RS256', typ: 'JWT' }, claims(over), attacker);
  const expired = { iat: T - 3600, exp: T - 1800 };
  const elsewhere = { aud: 'https://elsewhere.example.com' };

  test('a forged signature earns the generic message, whatever else is wrong with the claims', async () => {
    await refused(forged({}), 'forged, claims fine');
    await refused(forged(expired), 'forged and expired');
    await refused(forged(elsewhere), 'forged, aud elsewhere');
    await refused(forged({ ...expired, ...elsewhere }), 'forged, expired, aud elsewhere');
    await refused(good({ ...expired, sub: server.keys.SuperAdmin.keyFile.accessID }), "expired, signed by another key than sub's");
    const [h, p] = good(expired).split('.') as [string, string];
    await refused(`${h}.${p}.`, 'expired, no signature');
    await refused(`${b64({ alg: 'none', typ: 'JWT' })}.${p}.`, 'expired, alg none');
  });

  test('an unknown sub is named before the signature is checked, but not before the token is well formed', async () => {
    const sub = randomUUID();
    await refused(forged({ sub }), 'unknown sub, forged', ACCESS_ID);
    await refused(forged({ sub, ...expired, ...elsewhere }), 'unknown sub, forged, expired, aud elsewhere', ACCESS_ID);
    await refused(good({ sub, iat: 'soon' }), 'unknown sub, iat not a NumericDate', ACCESS_ID);
    const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims({ sub }))}`;
    await refused(`${input}.${b64('not a signature')}`, 'unknown sub, a signature of the wrong length', ACCESS_ID);
    await refused(`${input}.`, 'unknown sub, empty signature');
    await refused(`${input}.a+b/`, 'unknown sub, signature not base64url');
    await refused(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims({ sub }))}.`, 'unknown sub, alg none');
    await refused(`${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims({ sub }))}.${b64('mac')}`, 'unknown sub, HS256');
    await refused(`${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims({ sub }))}x.${b64('sig')}`, 'unknown sub, payload not base64url');
  });

  test('a validly signed token is told the first of: malformed or too long (generic), expired, issued ahead (generic), aud', async () => {
    await refused(good({ ...expired, ...elsewhere }), 'expired and aud elsewhere', EXPIRED);
    await refused(good({ iat: T - 7200, exp: T - 1800 }), 'expired, lifetime 5400');
    await refused(good({ iat: T - 1800, exp: 'then' }), 'exp not a NumericDate');
    await refused(good({ iat: T + 61, exp: T + 661, ...elsewhere }), 'issued 61 s ahead, aud elsewhere');
    await refused(good({ iat: T, exp: T + 3602, ...elsewhere }), 'lifetime 3602, aud elsewhere');
    await refused(good({ iat: T + 600, exp: T + 600 }), 'exp not after iat');
  });

  test('the body carries only the message; the log has the reason', async () => {
    const from = logLines.length;
    await refused(forged(expired), 'forged and expired');
    await refused(good(expired), 'expired', EXPIRED);
    await refused(good(elsewhere), 'aud elsewhere', AUDIENCE);
    await refused(good({ sub: randomUUID() }), 'unknown sub', ACCESS_ID);
    const reasons = logLines
      .slice(from)
      .map((line) => JSON.parse(line) as { msg?: string; reason?: string })
      .filter((l) => l.msg === 'access token refused')
      .map((l) => l.reason);
    assert.deepEqual(reasons, ['bad signature', 'expired', 'aud not accepted', 'no key registered for sub']);
  });
});

describe('a refusal in the audit trail', () => {
  test('leaves one denied event without a subject, and the route did not run', async () => {
    await server.store.flush();
    const before = (await server.store.audit()).length;
    await refused(good({ exp: T - 3000, iat: T - 3600 }), 'expired', EXPIRED);
    await server.store.flush();
    const events = (await server.store.audit()).slice(before);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.outcome, 'denied');
    assert.equal(events[0]!.status, 403);
    assert.equal(events[0]!.operation, 'ds100.lookup');
    assert.equal(events[0]!.subject, null);
  });
});
