/**
 * What each role may do through the console's JSON calls, over real HTTP: a refused call
 * changes nothing and leaves a `denied` event; an allowed change goes through the same domain
 * service as the API, with the same audit event, the administrator as its subject.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Role } from '../../src/domain/types.ts';
import { signedInAs, type ConsoleClient } from '../support/console.ts';
import { startServer, type TestServer } from '../support/server.ts';

const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';
const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c';
const DEVICE = '140100080';

describe('console roles', () => {
  let server: TestServer;
  const as = {} as Record<Role, ConsoleClient>;
  before(async () => {
    server = await startServer({ publicHost: 'localhost', demo: true, console: { assets: '/nonexistent' } });
    for (const role of ['SuperAdmin', 'HelpDeskAdmin', 'ReadOnly'] as const) as[role] = await signedInAs(server, `${role.toLowerCase()}@example.com`, role);
  });
  after(() => server.close());

  const calls: Array<[string, string, unknown, string]> = [
    ['POST', '/credentials/enable', { userId: JANE, deviceSerialNumber: DEVICE }, 'ds100.enable'],
    ['POST', '/credentials/disable', { userId: JOHN, deviceSerialNumber: DEVICE }, 'ds100.disable'],
    ['POST', '/credentials/clear-pin', { userId: JOHN, tokenSerialNumber: '014010008039' }, 'ds100.clearPin'],
    ['POST', '/credentials/delete', { userId: JOHN, deviceSerialNumber: DEVICE, tokenSerialNumber: '014010008038' }, 'ds100.delete'],
    ['POST', '/credentials/register', { userId: JANE, deviceSerialNumber: '555' }, 'ds100.register'],
    ['POST', '/admins/invite', { email: 'new@example.com', role: 'SuperAdmin' }, 'admin.invite'],
    ['POST', '/keys/create', { role: 'SuperAdmin', description: 'x' }, 'apikey.create'],
    ['POST', '/oauth-clients/create', { scopes: ['rsa.user.read'], alg: 'ES256', description: 'x' }, 'oauthclient.create'],
    ['POST', '/oauth-clients/delete', { clientId: 'some-client' }, 'oauthclient.delete'],
    ['GET', '/admins', undefined, ''],
    ['GET', '/keys', undefined, ''],
    ['GET', '/oauth-clients', undefined, ''],
  ];
  const snapshot = async () =>
    JSON.stringify([
      await server.store.credentialsByDevice(DEVICE), await server.store.credentialsByDevice('555'), await server.store.admins(), await server.store.apiKeys(),
      await server.store.oauthClients(),
    ]);

  for (const [role, refused] of [
    ['ReadOnly', calls],
    ['HelpDeskAdmin', calls.filter(([, path]) => !path.startsWith('/credentials/') || path === '/credentials/register')],
  ] as const) {
    test(`${role}: every call its role may not make is refused, changes nothing and is audited`, async () => {
      const before = await snapshot();
      await server.store.flush();
      const afterSeq = (await server.store.audit()).at(-1)?.seq ?? 0;
      for (const [method, path, body] of refused) {
        const r = await as[role].call(method, path, body);
        assert.equal(r.status, 403, `${path}: ${r.text}`);
        assert.equal((r.json as { description: string }).description, `An administrator with role ${role} may not do this.`);
      }
      assert.equal(await snapshot(), before);
      await server.store.flush();
      const denied = (await server.store.audit()).filter((e) => e.seq > afterSeq && e.outcome === 'denied');
      assert.deepEqual(denied.map((e) => [e.operation, e.role, e.status]), refused.filter(([, , , op]) => op).map(([, , , op]) => [op, role, 403]));
    });
  }

  test('reads are open to every role', async () => {
    for (const role of ['SuperAdmin', 'HelpDeskAdmin', 'ReadOnly'] as const) {
      for (const path of ['/users?email=ja', `/credentials?serial=${DEVICE}`, `/users/${JOHN}`, '/activity', '/activity/keys', `/activity?user=${JOHN}&activity=SIGNIN_SUCCESS`]) {
        assert.equal((await as[role].call('GET', path)).status, 200, `${role} ${path}`);
      }
    }
  });

  test("a HelpDeskAdmin's change is the API's: same rules, same event, the administrator as subject", async () => {
    const admin = (await server.store.adminByEmail('helpdeskadmin@example.com'))!;
    const r = await as.HelpDeskAdmin.call('POST', '/credentials/enable', { userId: JANE, deviceSerialNumber: DEVICE });
    assert.equal(r.status, 200, r.text);
    const [item] = (r.json as { result: Array<{ tokenStatus: string; tokenStatusChangedBy: string }> }).result;
    assert.deepEqual([item?.tokenStatus, item?.tokenStatusChangedBy], ['Enabled', admin.id]);
    const missing = await as.HelpDeskAdmin.call('POST', '/credentials/enable', { userId: JANE, deviceSerialNumber: '999' });
    assert.equal(missing.status, 404);
    assert.equal((missing.json as { description: string }).description, `DS100 999 is not registered to user ${JANE}`);
    await server.store.flush();
    const events = (await server.store.audit()).filter((e) => e.operation === 'ds100.enable' && e.subject === admin.id);
    assert.deepEqual(events.map((e) => [e.outcome, e.status, e.role, e.target.deviceSerialNumber]), [
      ['changed', 200, 'HelpDeskAdmin', DEVICE],
      ['not_found', 404, 'HelpDeskAdmin', '999'],
    ]);
  });

  test('a SuperAdmin registers a DS100, invites and revokes, creates and deletes a key and an OAuth client', async () => {
    const su = as.SuperAdmin;
    const reg = await su.call('POST', '/credentials/register', { userId: JANE, deviceSerialNumber: '555' });
    assert.equal(reg.status, 200, reg.text);
    assert.equal((reg.json as { result: { tokenSerialNumber: string } }).result.tokenSerialNumber, '055531');
    const inv = await su.call('POST', '/admins/invite', { email: 'new@example.com', role: 'ReadOnly' });
    assert.equal(inv.status, 200, inv.text);
    const id = (inv.json as { admin: { id: string } }).admin.id;
    assert.equal((await su.call('POST', '/admins/revoke', { adminId: id })).status, 200);
    assert.equal((await su.call('POST', '/admins/revoke', { adminId: 'nobody' })).status, 404);
    const key = await su.call('POST', '/keys/create', { role: 'ReadOnly', description: 'board' });
    const { accessID, accessKey } = (key.json as { keyFile: { accessID: string; accessKey: string } }).keyFile;
    assert.match(accessKey, /PRIVATE KEY/);
    assert.equal(key.headers.get('cache-control'), 'no-store');
    assert.ok(!JSON.stringify(await server.store.apiKeys()).includes(accessKey.split('\n')[1]!), 'the private key is not stored');
    assert.equal((await su.call('POST', '/keys/delete', { accessId: accessID })).status, 200);
    assert.equal(await server.store.apiKey(accessID), null);
    const client = await su.call('POST', '/oauth-clients/create', { scopes: ['rsa.user.read'], alg: 'ES256', description: 'board' });
    assert.equal(client.status, 200, client.text);
    const { clientId } = (client.json as { client: { clientId: string } }).client;
    assert.equal((await su.call('POST', '/oauth-clients/delete', { clientId })).status, 200);
    assert.equal(await server.store.oauthClient(clientId), null);
  });
});
