/**
 * Suite 1 of issue 6: attacks on the token check, beyond the rules of test/auth/token.test.ts.
 * Every attack is aimed at the four calls that change something (disable, enable, delete, clear
 * PIN), each of which would change the demo directory if let through, and must end in a
 * Spring-shaped 403, with the directory and keys unchanged and one `denied` audit event. Its
 * message is the generic one unless the attack names an access id that has no key (`Invalid
 * Access Id`): no forged token is ever told it is expired or meant for another audience. The
 * last test makes the same four calls with a good token and sees them change the directory: the
 * refusals above were not refusals for some other reason.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, sign as rsaSign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { exportJWK } from 'jose';
import { makeKeyService } from '../../src/auth/keys.ts';
import { systemClock } from '../../src/domain/clock.ts';
import type { Actor } from '../../src/domain/types.ts';
import { startServer, type TestKey, type TestServer } from '../support/server.ts';
import { DEVICE, INVALID_ACCESS_ID, MUTATIONS, REST, STRESS, TOKEN_REFUSED, assertSpring403, b64url, jws, snapshot } from '../support/attacks.ts';

const operator: Actor = { kind: 'operator', subject: 'security-test', role: null, clientAddress: 'local', requestId: null };

let server: TestServer;
let aud: string;
let attacker: { privateKey: KeyObject; publicKey: KeyObject };
/** A loopback server standing in for an attacker's key host: a `jku`/`x5u` the server fetched would show here. */
let keyHost: Server;
let keyHostUrl: string;
let keyHostHits = 0;
let requests = 0;

const now = () => Math.floor(Date.now() / 1000);
const key = (role: 'SuperAdmin' | 'HelpDeskAdmin' | 'ReadOnly'): TestKey => server.keys[role];
const idOf = (role: 'SuperAdmin' | 'HelpDeskAdmin' | 'ReadOnly'): string => key(role).keyFile.accessID;

/** Good claims for `sub` (default: the HelpDeskAdmin key), with `over` applied. */
function claims(over: Record<string, unknown> = {}, sub = idOf('HelpDeskAdmin')): Record<string, unknown> {
  return { sub, iat: now(), exp: now() + 600, aud, ...over };
}
const HEADER = { alg: 'RS256', typ: 'JWT' };

/**
 * A minimal self-signed X.509 certificate (DER) for `pair`, made by hand so that `x5c` carries a
 * real certificate of the attacker's key rather than junk that any parser would reject.
 */
function selfSignedCertificate(pair: { privateKey: KeyObject; publicKey: KeyObject }): Buffer {
  const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
    const body = Buffer.concat(parts);
    const n = body.length;
    const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
    return Buffer.concat([Buffer.from([tag]), len, body]);
  };
  const seq = (...p: Buffer[]) => tlv(0x30, ...p);
  const sha256WithRsa = seq(Buffer.from('06092a864886f70d01010b', 'hex'), Buffer.from('0500', 'hex'));
  const name = seq(tlv(0x31, seq(Buffer.from('0603550403', 'hex'), tlv(0x0c, Buffer.from('attacker')))));
  const validity = seq(tlv(0x17, Buffer.from('250101000000Z')), tlv(0x17, Buffer.from('491231235959Z')));
  const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
  const tbs = seq(Buffer.from('a003020102', 'hex'), Buffer.from('020101', 'hex'), sha256WithRsa, name, validity, name, spki);
  const signature = rsaSign('sha256', tbs, pair.privateKey);
  return seq(tbs, sha256WithRsa, tlv(0x03, Buffer.from([0]), signature));
}

before(async () => {
  server = await startServer({ demo: true });
  aud = `${server.url}${REST}`;
  attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  keyHost = createServer((req, res) => {
    keyHostHits++;
    res.setHeader('content-type', 'application/json');
    res.end('{}');
  });
  await new Promise<void>((resolve) => keyHost.listen(0, '127.0.0.1', resolve));
  const address = keyHost.address();
  keyHostUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

after(async () => {
  await new Promise((resolve) => keyHost.close(resolve));
  await server.close();
  console.log(`# token attacks: ${requests} requests`);
});

interface Refusal {
  /** The 403's message: the generic one unless said otherwise. */
  message?: string;
  /** The whole `Authorization` header, when it is not `Bearer <token>`. */
  authorization?: string;
}

/**
 * The attack: `token` on each of the four mutating calls. Each must be the Spring 403 with
 * `message`, change nothing, and leave exactly one `denied` event without a subject.
 */
async function refusedEverywhere(token: string, what: string, { message = TOKEN_REFUSED, authorization = `Bearer ${token}` }: Refusal = {}): Promise<void> {
  for (const m of MUTATIONS) await refusedOnce(m, authorization, what, message);
}

/** One mutating call with `authorization`: the Spring 403 with `message`, nothing changed, one `denied` event. */
async function refusedOnce(m: (typeof MUTATIONS)[number], authorization: string, what: string, message = TOKEN_REFUSED): Promise<void> {
  const before = await snapshot(server.store);
  const since = new Date().toISOString();
  const r = await server.request(m.method, m.path, m.body, { authorization });
  requests++;
  assertSpring403(r.status, r.json, `${REST}${m.path}`, message, `${what} on ${m.operation}`);
  assert.ok((await snapshot(server.store)) === before, `${what} on ${m.operation}: the store changed`);
  await server.store.flush();
  const events = (await server.store.audit({ since })).filter((e) => e.requestId === r.headers.get('x-request-id'));
  assert.equal(events.length, 1, `${what} on ${m.operation}: one audit event, got ${JSON.stringify(events)}`);
  assert.deepEqual(
    { operation: events[0]!.operation, outcome: events[0]!.outcome, status: events[0]!.status, subject: events[0]!.subject },
    { operation: m.operation, outcome: 'denied', status: 403, subject: null },
    `${what} on ${m.operation}: audit`,
  );
}

/** A control: `token` is good for a lookup, which changes nothing. */
async function accepted(token: string, what: string): Promise<void> {
  const r = await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });
  requests++;
  assert.equal(r.status, 200, `${what}: expected 200, got ${r.status} ${r.text}`);
}

describe('headers that name or carry a key never choose the verification key', () => {
  test('jwk: the attacker signs and embeds its own public key', async () => {
    const jwk = await exportJWK(attacker.publicKey);
    for (const sub of [idOf('HelpDeskAdmin'), idOf('SuperAdmin')]) {
      await refusedEverywhere(jws({ ...HEADER, jwk }, claims({}, sub), attacker.privateKey), `embedded attacker jwk, sub ${sub}`);
      await refusedEverywhere(jws({ ...HEADER, jwk, kid: sub }, claims({}, sub), attacker.privateKey), `attacker jwk with kid = sub`);
    }
  });

  test("jwk holding the sub's own registered public key, over an attacker signature", async () => {
    const registered = await server.store.apiKey(idOf('SuperAdmin'));
    assert.ok(registered);
    const jwk = await exportJWK(createPublicKey(registered.publicKeyPem));
    await refusedEverywhere(jws({ ...HEADER, jwk }, claims({}, idOf('SuperAdmin')), attacker.privateKey), 'registered jwk, attacker signature');
  });

  test('kid naming the registered key that really signed, while sub names another key', async () => {
    // The ReadOnly key signs a token for the SuperAdmin's sub; a server that let kid pick the key
    // would verify it with the ReadOnly key and grant the SuperAdmin's role.
    const readOnly = key('ReadOnly');
    const jwk = await exportJWK(createPublicKey(readOnly.privateKey));
    for (const header of [
      { ...HEADER, kid: idOf('ReadOnly') },
      { ...HEADER, kid: idOf('ReadOnly'), jwk },
      { ...HEADER, kid: `${idOf('ReadOnly')}.key` },
    ]) {
      await refusedEverywhere(jws(header, claims({}, idOf('SuperAdmin')), readOnly.privateKey), `kid ${header.kid} for SuperAdmin's sub`);
      await refusedEverywhere(jws(header, claims({}, idOf('HelpDeskAdmin')), readOnly.privateKey), `kid ${header.kid} for HelpDeskAdmin's sub`);
    }
  });

  test('kid as a path, an SQL fragment, a URL or another type, with an attacker signature', async () => {
    for (const kid of ['../../../../dev/null', "' OR '1'='1", `${keyHostUrl}/kid`, '', null, 0, [idOf('HelpDeskAdmin')], { id: 1 }]) {
      await refusedEverywhere(jws({ ...HEADER, kid }, claims(), attacker.privateKey), `kid ${JSON.stringify(kid)}`);
    }
  });

  test('jku and x5u pointing at a key host on loopback: refused, and never fetched', async () => {
    for (const header of [
      { ...HEADER, jku: `${keyHostUrl}/jwks.json`, kid: 'attacker' },
      { ...HEADER, x5u: `${keyHostUrl}/cert.pem` },
      { ...HEADER, jku: `${keyHostUrl}/jwks.json`, x5u: `${keyHostUrl}/cert.pem`, kid: idOf('HelpDeskAdmin') },
    ]) {
      await refusedEverywhere(jws(header, claims(), attacker.privateKey), `header ${Object.keys(header).join(',')}`);
    }
    // Even on a token the server accepts, the URLs are not followed.
    await accepted(jws({ ...HEADER, jku: `${keyHostUrl}/jwks.json`, x5u: `${keyHostUrl}/c.pem` }, claims({ jti: 'jku' }), key('HelpDeskAdmin').privateKey), 'jku on a good token');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(keyHostHits, 0, 'the server fetched a key URL named by a token');
  });

  test('x5c: a real self-signed certificate of the attacker key', async () => {
    const der = selfSignedCertificate(attacker);
    const certificate = new X509Certificate(der);
    assert.ok(certificate.verify(attacker.publicKey), 'the certificate is a valid self-signed one');
    const x5c = [der.toString('base64')];
    await refusedEverywhere(jws({ ...HEADER, x5c }, claims(), attacker.privateKey), 'x5c attacker certificate');
    await refusedEverywhere(jws({ ...HEADER, x5c, kid: idOf('SuperAdmin') }, claims({}, idOf('SuperAdmin')), attacker.privateKey), 'x5c + kid');
    await refusedEverywhere(
      jws({ ...HEADER, x5c, 'x5t#S256': 'AAAA', jwk: await exportJWK(attacker.publicKey) }, claims(), attacker.privateKey),
      'x5c + x5t#S256 + jwk',
    );
  });

  test('the same headers on a token signed by the key of its sub are ignored, not refused', async () => {
    const jwk = await exportJWK(attacker.publicKey);
    const x5c = [selfSignedCertificate(attacker).toString('base64')];
    const own = key('HelpDeskAdmin').privateKey;
    await accepted(jws({ ...HEADER, jwk }, claims({ jti: 'c1' }), own), 'jwk ignored');
    await accepted(jws({ ...HEADER, kid: idOf('SuperAdmin') }, claims({ jti: 'c2' }), own), 'kid ignored');
    await accepted(jws({ ...HEADER, x5c }, claims({ jti: 'c3' }), own), 'x5c ignored');
  });
});

describe('crit', () => {
  test('any crit header is refused, even on a token signed by the right key', async () => {
    const own = key('HelpDeskAdmin').privateKey;
    for (const crit of [['exp'], ['jku'], ['x-unknown'], [], 'exp', null, {}]) {
      await refusedEverywhere(jws({ ...HEADER, crit, 'x-unknown': 1 }, claims(), own), `crit ${JSON.stringify(crit)}`);
    }
  });

  test('RFC 7797 unencoded payload (b64: false) is refused whichever input was signed', async () => {
    const own = key('HelpDeskAdmin').privateKey;
    const header = b64url({ ...HEADER, b64: false, crit: ['b64'] });
    const payload = JSON.stringify(claims());
    // Signed over the raw payload, as RFC 7797 asks, and over the base64url form, as RS256 asks.
    const rawSig = rsaSign('sha256', Buffer.from(`${header}.${payload}`), own).toString('base64url');
    await refusedEverywhere(`${header}.${b64url(payload)}.${rawSig}`, 'b64:false signed over the raw payload');
    await refusedEverywhere(jws({ ...HEADER, b64: false, crit: ['b64'] }, claims(), own), 'b64:false signed over the encoded payload');
  });
});

describe('size', () => {
  /** A token signed by the right key, padded with ignored fields to exactly `length` characters. */
  function tokenOfLength(length: number): string {
    const own = key('HelpDeskAdmin').privateKey;
    const base = claims({ jti: `len-${length}` });
    const signatureLength = 342; // 2048-bit RSA
    for (let hp = 0; hp < 8; hp++) {
      const header = { ...HEADER, h: 'y'.repeat(hp) };
      const want = length - b64url(header).length - signatureLength - 2;
      for (let pp = Math.max(0, Math.floor((want * 3) / 4) - JSON.stringify({ ...base, pad: '' }).length - 8); ; pp++) {
        const payload = { ...base, pad: 'x'.repeat(pp) };
        const got = b64url(payload).length;
        if (got === want) return jws(header, payload, own);
        if (got > want) break;
      }
    }
    throw new Error(`no token of ${length} characters`);
  }

  test('a validly signed token of 8 KiB or more is refused, and the server answers the next call', async () => {
    for (const length of [8192, 8193, 12_000, 15_000]) {
      const token = tokenOfLength(length);
      assert.equal(token.length, length);
      await refusedEverywhere(token, `a ${length}-character token`);
      await accepted(await server.sign(), `a good token after the ${length}-character one`);
    }
    // Just under the cap, the same padding is only an ignored claim: the size rule is the one that refused.
    await accepted(tokenOfLength(8000), 'a 8000-character token');
  });

  test('a validly signed token with thousands of claims is refused', async () => {
    // Short names so that the token still fits in Node's 16 KiB of headers and reaches the check.
    const name = (i: number) => i.toString(36);
    for (const count of [1000, 1500]) {
      const many: Record<string, number> = {};
      for (let i = 0; i < count; i++) many[name(i)] = 0;
      const token = jws(HEADER, { ...many, ...claims() }, key('HelpDeskAdmin').privateKey);
      assert.ok(token.length < 15_500, `the ${count}-claim token fits in the headers (${token.length})`);
      await refusedEverywhere(token, `${count} claims`);
      await accepted(await server.sign(), `a good token after ${count} claims`);
    }
  });

  test('a token too large for the headers is a 431 before it is read, and changes nothing', async () => {
    const many: Record<string, number> = {};
    for (let i = 0; i < 5000; i++) many[`c${i}`] = i;
    const token = jws(HEADER, claims(many), key('HelpDeskAdmin').privateKey);
    for (const m of MUTATIONS) {
      const before = await snapshot(server.store);
      const r = await server.request(m.method, m.path, m.body, { token });
      requests++;
      assert.equal(r.status, 431, `${m.operation}: ${r.text}`);
      assert.deepEqual(r.json, { code: '431 REQUEST_HEADER_FIELDS_TOO_LARGE', description: 'The request headers are larger than 16384 bytes.' });
      assert.ok((await snapshot(server.store)) === before, `${m.operation}: the store changed`);
    }
    await accepted(await server.sign(), 'a good token after the 431s');
  });
});

describe('duplicate member names', () => {
  const signWith = (header: string, payload: string) => jws(header, payload, key('HelpDeskAdmin').privateKey);
  const payloadText = () => JSON.stringify(claims());

  test('in the header, written plainly, with spaces, or with escapes', async () => {
    for (const header of [
      '{"alg":"none","alg":"RS256","typ":"JWT"}',
      '{"alg":"RS256","typ":"JWT","alg":"RS256"}',
      '{"alg":"RS256","typ":"JWT","typ":"JWT"}',
      '{ "alg" : "HS256" , "alg"\n:\t"RS256" }',
      '{"alg":"RS256","\\u0061lg":"RS256"}',
      '{"alg":"RS256","typ":"JWT","crit":["exp"],"\\u0063rit":null}',
      '{"alg":"RS256","kid":"a","kid":"b"}',
    ]) {
      await refusedEverywhere(signWith(header, payloadText()), `header ${header}`);
    }
  });

  test('in the payload: sub, exp, aud and iat twice, written plainly or with escapes', async () => {
    const c = claims();
    const s = (v: unknown) => JSON.stringify(v);
    const rest = `"iat":${c.iat},"exp":${c.exp},"aud":${s(aud)}`;
    const header = JSON.stringify(HEADER);
    for (const payload of [
      // Parsers that keep the first name see the SuperAdmin; JSON.parse keeps the last.
      `{"sub":${s(idOf('SuperAdmin'))},"sub":${s(idOf('HelpDeskAdmin'))},${rest}}`,
      `{"sub":${s(idOf('HelpDeskAdmin'))},"s\\u0075b":${s(idOf('SuperAdmin'))},${rest}}`,
      `{"\\u0073\\u0075\\u0062":${s(idOf('HelpDeskAdmin'))},"sub":${s(idOf('HelpDeskAdmin'))},${rest}}`,
      `{"sub":${s(idOf('HelpDeskAdmin'))},${rest},"exp":${now() + 86_400 * 365}}`,
      `{"sub":${s(idOf('HelpDeskAdmin'))},${rest},"aud":"https://elsewhere.example.com"}`,
      `{"sub":${s(idOf('HelpDeskAdmin'))},"iat":0,${rest}}`,
    ]) {
      await refusedEverywhere(signWith(header, payload), `payload ${payload.slice(0, 80)}`);
    }
  });

  test('controls: names that only look alike, and repeats inside an ignored claim, are accepted', async () => {
    const c = claims({ jti: 'dup-control' });
    const header = JSON.stringify(HEADER);
    const base = `"sub":${JSON.stringify(c.sub)},"iat":${c.iat},"exp":${c.exp},"aud":${JSON.stringify(aud)}`;
    await accepted(signWith(header, `{${base},"sub ":"x","Sub":"y"}`), 'look-alike names');
    await accepted(signWith(header, `{${base},"ext":{"a":1,"a":2}}`), 'a repeat nested in an ignored claim');
  });
});

describe("a valid signature over another key's sub", () => {
  test('each registered key claiming each other key', async () => {
    const roles = ['SuperAdmin', 'HelpDeskAdmin', 'ReadOnly'] as const;
    for (const signer of roles) {
      for (const claimed of roles) {
        if (signer === claimed) continue;
        await refusedEverywhere(jws(HEADER, claims({}, idOf(claimed)), key(signer).privateKey), `${signer} key claiming ${claimed}'s sub`);
      }
    }
  });

  test("a token whose header and payload are byte for byte the SuperAdmin's cached token, signed by another key", async () => {
    const payload = claims({ jti: 'twin' }, idOf('SuperAdmin'));
    const genuine = jws(HEADER, payload, key('SuperAdmin').privateKey);
    await accepted(genuine, 'the genuine token, now cached');
    const [h, p] = genuine.split('.') as [string, string];
    for (const signer of [key('HelpDeskAdmin').privateKey, key('ReadOnly').privateKey, attacker.privateKey]) {
      const forged = `${h}.${p}.${rsaSign('sha256', Buffer.from(`${h}.${p}`), signer).toString('base64url')}`;
      await refusedEverywhere(forged, 'the cached token with another signature');
    }
  });

  test('sub in another form: case, spaces, an array, an object', async () => {
    const own = key('HelpDeskAdmin').privateKey;
    const id = idOf('HelpDeskAdmin');
    // A string that is not a registered access id is named as such; anything else is malformed.
    for (const sub of [id.toUpperCase(), ` ${id}`, `${id} `, `${id}\u0000`]) {
      await refusedEverywhere(jws(HEADER, { ...claims(), sub }, own), `sub ${JSON.stringify(sub)}`, { message: INVALID_ACCESS_ID });
    }
    for (const sub of [[id], { id }]) {
      await refusedEverywhere(jws(HEADER, { ...claims(), sub }, own), `sub ${JSON.stringify(sub)}`);
    }
  });
});

describe('base64url: padding and characters outside the alphabet, in each segment', () => {
  /** A token whose three segments each contain '-' or '_' and have a length that is not a multiple of 4. */
  function awkwardToken(): { h: string; p: string; s: string; headerObj: object; payloadObj: object } {
    const own = key('HelpDeskAdmin').privateKey;
    for (let n = 0; n < 10_000; n++) {
      const headerObj = { ...HEADER, n: `~~~${n}` };
      const payloadObj = claims({ jti: `>>>?${n}` });
      const [h, p, s] = jws(headerObj, payloadObj, own).split('.') as [string, string, string];
      if ([h, p, s].every((x) => /[-_]/.test(x) && x.length % 4 >= 2)) return { h, p, s, headerObj, payloadObj };
    }
    throw new Error('no awkward token found');
  }

  /** The variants of one segment: each decodes, in a lenient decoder, to the same bytes (or is junk). */
  function variants(segment: string): Array<[string, string]> {
    const bytes = Buffer.from(segment, 'base64url');
    const padded = bytes.toString('base64url') + '='.repeat((4 - (segment.length % 4)) % 4);
    const standard = bytes.toString('base64').replace(/=+$/, '');
    const last = segment.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const unusedBits = segment.length % 4 === 2 ? 4 : 2;
    const nonCanonical = segment.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ ((1 << unusedBits) - 1)];
    assert.ok(Buffer.from(nonCanonical, 'base64url').equals(bytes), 'the non-canonical form decodes to the same bytes');
    const mid = Math.floor(segment.length / 2);
    const insert = (c: string) => segment.slice(0, mid) + c + segment.slice(mid);
    return [
      ['padded with =', padded],
      ['a stray =', `${segment}=`],
      ["standard alphabet '+' and '/'", standard],
      ['standard alphabet, padded', bytes.toString('base64')],
      ['non-canonical last character', nonCanonical],
      ['one character too many', `${segment}A`],
      ['a space', insert(' ')],
      ['a tab', insert('\t')],
      ['%', insert('%')],
      ['!', insert('!')],
      ['~', insert('~')],
      ['*', insert('*')],
      ['\\', insert('\\')],
      ['é (Latin-1)', insert('\u00e9')],
      ['percent-encoded =', `${segment}%3D`],
    ];
  }

  test('each variant of each segment, validly signed over what is sent, is refused', async () => {
    const own = key('HelpDeskAdmin').privateKey;
    const { h, p, s } = awkwardToken();
    for (const [what, hv] of variants(h)) {
      // The signature is made over the variant as sent: the encoding is the only thing wrong.
      const input = `${hv}.${p}`;
      await refusedEverywhere('', `header: ${what}`, { authorization: `Bearer ${input}.${rsaSign('sha256', Buffer.from(input, 'latin1'), own).toString('base64url')}` });
    }
    for (const [what, pv] of variants(p)) {
      const input = `${h}.${pv}`;
      await refusedEverywhere('', `payload: ${what}`, { authorization: `Bearer ${input}.${rsaSign('sha256', Buffer.from(input, 'latin1'), own).toString('base64url')}` });
    }
    for (const [what, sv] of variants(s)) {
      await refusedEverywhere('', `signature: ${what}`, { authorization: `Bearer ${h}.${p}.${sv}` });
    }
    // The control: the token itself is good.
    await accepted(`${h}.${p}.${s}`, 'the awkward token, untouched');
  });
});

/**
 * The message an edit of `good` earns: `Invalid Access Id` when only the payload changed, it is
 * still canonical base64url of a JSON object, and its `sub` became another string (which names
 * no key); the generic one otherwise. An edit can never pass the signature, so nothing else.
 */
function editedMessage(good: string, edited: string): string {
  const [h, p, s] = good.split('.') as [string, string, string];
  const parts = edited.split('.');
  if (parts.length !== 3 || parts[0] !== h || parts[2] !== s || parts[1] === p) return TOKEN_REFUSED;
  const payload = parts[1]!;
  if (Buffer.from(payload, 'base64url').toString('base64url') !== payload) return TOKEN_REFUSED;
  let claimed: unknown;
  try {
    claimed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return TOKEN_REFUSED;
  }
  const sub = (claimed as { sub?: unknown } | null)?.sub;
  const renamed = typeof sub === 'string' && sub !== '' && sub !== idOf('HelpDeskAdmin');
  return renamed && typeof claimed === 'object' && !Array.isArray(claimed) ? INVALID_ACCESS_ID : TOKEN_REFUSED;
}

describe('any edit of a good token', () => {
  test('one character replaced, inserted or removed anywhere is refused (fast-check; STRESS runs more)', async () => {
    const own = key('HelpDeskAdmin').privateKey;
    const good = jws(HEADER, claims({ jti: 'mutations' }), own);
    await accepted(good, 'the token itself');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ~';
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(good.length - 1), fc.constantFrom(...alphabet), fc.constantFrom('replace', 'insert', 'remove'), async (at, ch, how) => {
        const edited = how === 'replace' ? good.slice(0, at) + ch + good.slice(at + 1) : how === 'insert' ? good.slice(0, at) + ch + good.slice(at) : good.slice(0, at) + good.slice(at + 1);
        if (edited === good) return;
        const m = MUTATIONS[n++ % MUTATIONS.length]!;
        await refusedOnce(m, `Bearer ${edited}`, `${how} ${JSON.stringify(ch)} at ${at}`, editedMessage(good, edited));
      }),
      { seed: 6, numRuns: STRESS ? 3000 : 40, endOnFailure: true },
    );
  });
});

describe('a key deleted while its tokens are cached', () => {
  for (const how of ['through the key service', 'by another process, straight in the store'] as const) {
    test(`deleted ${how}: refused at once`, async () => {
      const keys = makeKeyService({ store: server.store, clock: systemClock, publicUrl: server.url });
      const { keyFile } = await keys.create(operator, 'HelpDeskAdmin', 'deleted while cached');
      const privateKey = createPrivateKey(keyFile.accessKey);
      const token = jws(HEADER, claims({ jti: how }, keyFile.accessID), privateKey);
      const { signatureChecks } = server.app.verifier.stats();
      await accepted(token, 'before the delete');
      await accepted(token, 'before the delete, again');
      assert.equal(server.app.verifier.stats().signatureChecks, signatureChecks + 1, 'the second use was served from the cache');
      if (how === 'through the key service') await keys.delete(operator, keyFile.accessID);
      else await server.store.transaction((tx) => tx.deleteApiKey(keyFile.accessID));
      await refusedEverywhere(token, `the cached token of a key deleted ${how}`, { message: INVALID_ACCESS_ID });
      await refusedEverywhere(jws(HEADER, claims({ jti: `${how} 2` }, keyFile.accessID), privateKey), `a new token of the deleted key`, { message: INVALID_ACCESS_ID });
    });
  }
});

describe('the controls', () => {
  test('the four calls made with a good token change the directory: the refusals above were for the token', async () => {
    for (const m of MUTATIONS) {
      const before = await snapshot(server.store);
      const r = await server.request(m.method, m.path, m.body, { role: 'SuperAdmin' });
      requests++;
      assert.equal(r.status, 200, `${m.operation} with a good token: ${r.text}`);
      assert.ok((await snapshot(server.store)) !== before, `${m.operation} with a good token changed nothing`);
    }
  });
});
