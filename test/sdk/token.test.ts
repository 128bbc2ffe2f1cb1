import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { manualClock } from '../../src/domain/clock.ts';
import { Ds100AdminClient } from '@ds100-admin/sdk';
import { API, startServer } from '../support/server.ts';
import { startStandIn } from '../support/stand-in.ts';

const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';

function decode(authorization: string | undefined): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const match = /^Bearer (.+)$/.exec(authorization ?? '');
  assert.ok(match, `a Bearer token: ${authorization}`);
  const [h, p] = match[1]!.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), claims: JSON.parse(Buffer.from(p!, 'base64url').toString()) };
}

const distinct = (seen: Array<{ authorization: string | undefined }>) => new Set(seen.map((s) => s.authorization)).size;

test('one token, signed as spec section 2 says, serves every call of a client', async () => {
  const server = await startServer({ demo: true });
  const proxy = await startStandIn(server.url);
  try {
    const key = server.keys.HelpDeskAdmin.keyFile;
    const client = await Ds100AdminClient.fromKeyFile(key, { baseUrl: proxy.url, audience: key.adminRestApiUrl });
    await client.lookupUser({ email: 'jane.doe@example.com' });
    await client.enableOtp({ deviceSerialNumber: '140100080', userId: JANE });
    await client.disableOtp({ deviceSerialNumber: '140100080', userId: JANE });
    await client.lookupDs100({ deviceSerialNumber: '140100080' });
    await client.clearPin({ tokenSerialNumber: '014010008039', userId: '87927fb7-e185-4c33-c7e3-8e077675973c' });
    await Promise.all([1, 2, 3].map(() => client.lookupDs100({ deviceSerialNumber: '140100080' })));

    assert.equal(proxy.seen.length, 8);
    assert.equal(distinct(proxy.seen), 1, 'every request carried the same token');
    const { header, claims } = decode(proxy.seen[0]!.authorization);
    assert.deepEqual(header, { alg: 'RS256', typ: 'JWT' });
    assert.deepEqual(Object.keys(claims).sort(), ['aud', 'exp', 'iat', 'sub']);
    assert.equal(claims.sub, key.accessID);
    assert.equal(claims.aud, `${server.url}${API}`);
    assert.ok(Number.isInteger(claims.iat) && Number.isInteger(claims.exp));
    const lifetime = (claims.exp as number) - (claims.iat as number);
    assert.ok(lifetime > 60 && lifetime <= 3600, `lifetime ${lifetime}`);
  } finally {
    await proxy.close();
    await server.close();
  }
});

test('calls started together before any token exists share one signature', async () => {
  const server = await startServer({ demo: true });
  const proxy = await startStandIn(server.url);
  try {
    const key = server.keys.ReadOnly.keyFile;
    const client = await Ds100AdminClient.fromKeyFile(key, { baseUrl: proxy.url, audience: key.adminRestApiUrl });
    await Promise.all(Array.from({ length: 6 }, () => client.lookupDs100({ deviceSerialNumber: '140100080' })));
    assert.equal(proxy.seen.length, 6);
    assert.equal(distinct(proxy.seen), 1);
  } finally {
    await proxy.close();
    await server.close();
  }
});

test('the token is renewed a minute before it expires, by the injected clock, and the server takes the new one', async () => {
  const clock = manualClock(Date.parse('2030-01-01T00:00:00.000Z'));
  const server = await startServer({ demo: true, clock });
  const proxy = await startStandIn(server.url);
  try {
    const key = server.keys.HelpDeskAdmin.keyFile;
    const client = await Ds100AdminClient.fromKeyFile(key, { baseUrl: proxy.url, audience: key.adminRestApiUrl, clock, tokenLifetimeSeconds: 600 });
    const call = () => client.lookupDs100({ deviceSerialNumber: '140100080' });

    await call();
    clock.advance(500_000); // 100 s of its 600 left: keep it
    await call();
    assert.equal(distinct(proxy.seen), 1);
    const first = decode(proxy.seen[0]!.authorization).claims;
    assert.equal(first.exp, (first.iat as number) + 600);

    clock.advance(41_000); // 59 s left: renew
    await call();
    await call();
    assert.equal(proxy.seen.length, 4);
    assert.equal(distinct(proxy.seen), 2);
    assert.equal(proxy.seen[2]!.authorization, proxy.seen[3]!.authorization);
    const second = decode(proxy.seen[2]!.authorization).claims;
    assert.equal(second.iat, Math.floor(clock.now() / 1000));
    assert.equal(second.exp, (second.iat as number) + 600);
  } finally {
    await proxy.close();
    await server.close();
  }
});

test('token() gives the cached token until the renewal margin, then a new one', async () => {
  const clock = manualClock(Date.parse('2030-01-01T00:00:00.000Z'));
  const server = await startServer();
  try {
    const client = await Ds100AdminClient.fromKeyFile(server.keys.HelpDeskAdmin.keyFile, { clock });
    const a = await client.token();
    clock.advance(3539_000);
    assert.equal(await client.token(), a);
    clock.advance(1_000); // exactly 60 s left
    assert.notEqual(await client.token(), a);
  } finally {
    await server.close();
  }
});

test('token lifetimes over 3600 s (or under the renewal margin) are refused', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const options = { baseUrl: 'https://admin.example.com', accessId: 'a', privateKey };
  assert.doesNotThrow(() => new Ds100AdminClient({ ...options, tokenLifetimeSeconds: 3600 }));
  for (const tokenLifetimeSeconds of [3601, 60, 1.5]) {
    assert.throws(() => new Ds100AdminClient({ ...options, tokenLifetimeSeconds }), RangeError);
  }
});
