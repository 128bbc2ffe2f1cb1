/**
 * The console in real Chromium (Debian's, through playwright-core), against a real server on
 * the store under test, with passkeys from the DevTools protocol's virtual authenticator:
 * enrolment, sign-in and sign-out, search, the user page's changes (seen through the public
 * API), what a ReadOnly administrator is offered and refused, forged requests from another
 * origin and without the CSRF token, idle expiry, revocation; the activity page's filters and
 * pages; the OAuth clients page (its private key offered once); axe-core on every page; a
 * screenshot of every page in the test output folder.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console.ts';
import { SESSION_IDLE_MS, makeAdminService } from '../../src/auth/admins.ts';
import { manualClock } from '../../src/domain/clock.ts';
import type { Credential } from '../../src/domain/types.ts';
import { launch, openPage, screenshot, seriousViolations, type AuthenticatedPage } from '../support/browser.ts';
import { invite, operator } from '../support/console.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { tempDir } from '../support/stores.ts';

const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c';
const DEVICE = '140100080';

// One scenario in order, in one browser: on a loaded two-core machine it outlasts the runner's default.
describe('the console in Chromium', { timeout: 600_000 }, () => {
  const clock = manualClock(Date.now());
  const assets = tempDir('ds100-console-');
  let server: TestServer;
  let browser: Browser;
  let sam: AuthenticatedPage;
  const opened: AuthenticatedPage[] = [];

  before(async () => {
    await buildConsole(assets.path);
    server = await startServer({ publicHost: 'localhost', demo: true, clock, console: { assets: assets.path } });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    assets.dispose();
  });

  const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { level: 1, name }).waitFor();
  /** No serious or critical axe violation, no CSP or script error, and a screenshot. */
  async function checkPage(p: AuthenticatedPage, name: string): Promise<void> {
    const violations = await seriousViolations(p.page);
    assert.deepEqual(violations, [], `${name}: ${JSON.stringify(violations, null, 2)}`);
    assert.deepEqual(p.problems, [], `${name}: errors in the page`);
    await screenshot(p.page, name);
  }
  async function enrolIn(email: string, role: 'SuperAdmin' | 'HelpDeskAdmin' | 'ReadOnly', shoot?: string): Promise<AuthenticatedPage> {
    const p = await openPage(browser);
    opened.push(p);
    await p.page.goto(await invite(server, email, role, clock));
    await heading(p.page, 'Enrol');
    await p.page.getByText(`You are invited to the DS100 console as ${email} with the role ${role}.`).waitFor();
    if (shoot) await checkPage(p, shoot);
    await p.page.getByRole('button', { name: 'Register a passkey or security key' }).click();
    await heading(p.page, 'Search');
    return p;
  }
  const lookup = async (): Promise<Credential[]> => {
    const r = await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { role: 'ReadOnly' });
    assert.equal(r.status, 200, r.text);
    return r.json as Credential[];
  };
  const johns = async () => (await lookup()).filter((c) => c.userId === JOHN);

  test('enrolment from an invite link registers a passkey and signs in', async () => {
    sam = await enrolIn('sam@example.com', 'SuperAdmin', '01-enrol');
    await sam.page.getByText('sam@example.com (SuperAdmin)').waitFor();
    const { credentials } = await sam.cdp.send('WebAuthn.getCredentials', { authenticatorId: sam.authenticatorId });
    assert.equal(credentials.length, 1, 'one passkey in the authenticator');
    assert.equal(credentials[0]!.isResidentCredential, true);
    const admin = (await server.store.adminByEmail('sam@example.com'))!;
    assert.ok(admin.enrolledAt);
    assert.equal((await server.store.passkeysOfAdmin(admin.id))[0]?.id, credentials[0]!.credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
    const cookies = await sam.context.cookies();
    const session = cookies.find((c) => c.name === 'ds100_console');
    assert.ok(session?.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
  });

  test('sign-out, then sign-in with the passkey', async () => {
    await sam.page.getByRole('button', { name: 'Sign out' }).click();
    await heading(sam.page, 'Sign in');
    await sam.page.getByText('You are signed out.').waitFor();
    assert.equal((await sam.context.cookies()).filter((c) => c.name === 'ds100_console').length, 0, 'the cookie is gone');
    await checkPage(sam, '02-sign-in');
    await sam.page.getByRole('button', { name: 'Sign in with a passkey or security key' }).click();
    await heading(sam.page, 'Search');
    await sam.page.getByRole('status').getByText('Signed in as sam@example.com.').waitFor();
    await server.store.flush();
    const events = (await server.store.audit()).map((e) => e.operation).filter((o) => o.startsWith('console.'));
    assert.deepEqual(events, ['console.signin', 'console.signout', 'console.signin']);
  });

  test('search by e-mail prefix, and by serial; results are announced', async () => {
    const { page } = sam;
    await page.getByLabel('E-mail address starts with').fill('j');
    await page.getByLabel('E-mail address starts with').press('Enter');
    await page.getByRole('status').getByText('2 users found.').waitFor();
    const rows = page.getByRole('table').getByRole('link');
    assert.deepEqual(await rows.allTextContents(), ['jane.doe@example.com', 'john.smith@example.com']);
    await checkPage(sam, '03-search');
    await page.getByLabel('Device or token serial number').fill(DEVICE);
    await page.getByRole('button', { name: 'Find credentials' }).click();
    await page.getByRole('status').getByText('4 credentials found.').waitFor();
    await page.getByRole('link', { name: 'john.smith@example.com' }).first().click();
    await heading(page, 'john.smith@example.com');
  });

  test('the keyboard alone: focus order, visible focus, a dialog that Escape cancels', async () => {
    const { page } = sam;
    await page.getByRole('link', { name: 'Search' }).click();
    await heading(page, 'Search');
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const style = getComputedStyle(el);
        return { name: el.getAttribute('aria-label') ?? ((el as HTMLInputElement).labels?.[0]?.textContent || el.textContent || '').trim(), outline: `${style.outlineStyle} ${style.outlineWidth}` };
      });
    assert.equal((await focused()).name, 'Search', 'the heading of a new page has the focus');
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      assert.match(f.outline, /^solid [1-9]/, `${f.name}: the focus is visible`);
      order.push(f.name);
    }
    assert.deepEqual(order, ['E-mail address starts with', 'Find users', 'Device or token serial number', 'Find credentials']);
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.type('john');
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('1 user found.').waitFor();
    for (let i = 0; i < 6 && (await focused()).name !== 'john.smith@example.com'; i++) await page.keyboard.press('Tab');
    assert.equal((await focused()).name, 'john.smith@example.com');
    await page.keyboard.press('Enter');
    await heading(page, 'john.smith@example.com');
    for (let i = 0; i < 10 && (await focused()).name !== `Disable DS100 ${DEVICE}`; i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    assert.equal((await focused()).name, 'Cancel', 'the dialog takes the focus');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    assert.deepEqual((await johns()).map((c) => c.tokenStatus), ['Enabled', 'Enabled'], 'Escape changed nothing');
  });

  test("disabling John's DS100 is seen through the public API's lookup", async () => {
    const { page } = sam;
    await checkPage(sam, '04-user');
    await page.getByRole('button', { name: `Disable DS100 ${DEVICE}` }).first().click();
    const dialog = page.getByRole('dialog', { name: `Disable DS100 ${DEVICE}?` });
    await dialog.waitFor();
    await checkPage(sam, '05-confirm');
    await dialog.getByRole('button', { name: `Disable ${DEVICE}` }).click();
    await page.getByRole('status').getByText(`DS100 ${DEVICE} disabled.`).waitFor();
    const admin = (await server.store.adminByEmail('sam@example.com'))!;
    for (const c of await johns()) {
      assert.equal(c.tokenStatus, 'Disabled', c.tokenSerialNumber);
      assert.equal(c.tokenStatusChangedBy, admin.id, 'the administrator made the change');
    }
    await page.getByRole('cell', { name: 'sam@example.com' }).first().waitFor();
  });

  test('clear PIN', async () => {
    const { page } = sam;
    await page.getByRole('button', { name: 'Clear PIN of 014010008039', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Clear PIN of 014010008039' }).click();
    await page.getByRole('status').getByText('PIN of 014010008039 cleared.').waitFor();
    assert.equal((await server.store.credentialByTokenSerial('014010008039'))?.pinSet, false);
    assert.equal(await page.getByRole('button', { name: 'Clear PIN of 014010008039', exact: true }).count(), 0, 'no PIN left to clear');
  });

  test('delete asks for the serial it acts on', async () => {
    const { page } = sam;
    await page.getByRole('button', { name: 'Delete credential 014010008038' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete credential 014010008038?' });
    await dialog.getByLabel('Type 014010008038 to confirm').fill('014010008039');
    await dialog.getByRole('button', { name: 'Delete 014010008038' }).click();
    await dialog.getByRole('alert').getByText('That is not 014010008038.').waitFor();
    assert.ok(await server.store.credentialByTokenSerial('014010008038'), 'nothing deleted on a wrong serial');
    await dialog.getByLabel('Type 014010008038 to confirm').fill('014010008038');
    await dialog.getByRole('button', { name: 'Delete 014010008038' }).click();
    await page.getByRole('status').getByText('Credential 014010008038 deleted.').waitFor();
    assert.equal(await server.store.credentialByTokenSerial('014010008038'), null);
    assert.deepEqual((await johns()).map((c) => c.tokenSerialNumber), ['014010008039']);
  });

  test('the activity page lists the admin log newest first, filtered', async () => {
    const { page } = sam;
    await page.getByRole('link', { name: 'Activity' }).click();
    await heading(page, 'Activity');
    await page.getByLabel('Activity', { exact: true }).selectOption('DS100_OTP_DELETE_SUCCESS');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('status').getByText('1 event.').waitFor();
    await page.getByRole('cell', { name: 'DS100 OTP credential 014010008038 (140100080)' }).waitFor();
    await page.getByRole('cell', { name: /deleted OTP credential 014010008038 of DS100 140100080/ }).waitFor();
    await page.getByLabel('Activity', { exact: true }).selectOption('');
    await page.getByLabel('User (id or e-mail address)').fill('john.smith@example.com');
    await page.getByRole('button', { name: 'Filter' }).click();
    // Added, registered twice, then the three changes above.
    await page.getByRole('status').getByText('6 events.').waitFor();
    const activities = await page.locator('tbody tr td:nth-child(2)').allTextContents();
    assert.deepEqual(activities, [
      'DS100_OTP_DELETE_SUCCESS', 'DS100_OTP_CLEAR_PIN_SUCCESS', 'DS100_OTP_DISABLE_SUCCESS', 'DS100_REGISTER_SUCCESS', 'DS100_REGISTER_SUCCESS', 'USER_ADD_SUCCESS',
    ], 'newest first');
    await page.getByRole('cell', { name: 'sam@example.com (Super Administrator)' }).first().waitFor();
    await checkPage(sam, '06-activity');
  });

  test('the activity page: an administrator, a time window, and older and newer pages', async () => {
    const { page } = sam;
    await server.store.transaction(async (tx) => {
      for (let i = 0; i < 60; i++) {
        await tx.appendAudit({
          at: `2020-05-01T10:00:${String(i).padStart(2, '0')}.000Z`, kind: 'administrator', subject: 'key-paging', role: 'ReadOnly', clientAddress: '192.0.2.7', requestId: null,
          operation: 'users.lookup', target: { email: `p${i}@example.com` }, outcome: 'unchanged', status: 200,
        });
      }
    });
    await page.getByLabel('User (id or e-mail address)').fill('');
    await page.getByLabel('Administrator (e-mail address or id)').fill('key-paging');
    await page.getByLabel('From (UTC day)').fill('2020-05-01');
    await page.getByLabel('To (UTC day)').fill('2020-05-01');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('status').getByText('50 events, more on older pages.').waitFor();
    const targets = () => page.locator('tbody tr td:nth-child(4)').allTextContents();
    assert.deepEqual((await targets()).slice(0, 2), ['User (p59@example.com)', 'User (p58@example.com)']);
    assert.equal(await page.getByRole('button', { name: 'Newer' }).isDisabled(), true, 'the newest page');
    await page.getByRole('button', { name: 'Older' }).click();
    await page.getByRole('status').getByText('10 events.').waitFor();
    assert.deepEqual((await targets()).at(-1), 'User (p0@example.com)');
    assert.equal(await page.getByRole('button', { name: 'Older' }).isDisabled(), true, 'the oldest page');
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.getByRole('status').getByText('50 events, more on older pages.').waitFor();
    assert.deepEqual((await targets())[0], 'User (p59@example.com)');
    // A window with nothing in it.
    await page.getByLabel('From (UTC day)').fill('2020-05-02');
    await page.getByLabel('To (UTC day)').fill('');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No activity matches.').waitFor();
    await page.getByRole('status').getByText('0 events.').waitFor();
  });

  test('SuperAdmin pages: administrators and API keys', async () => {
    const { page } = sam;
    await page.getByRole('link', { name: 'Administrators' }).click();
    await heading(page, 'Administrators');
    await page.getByLabel('E-mail address').fill('tom@example.com');
    await page.getByLabel('Role').selectOption('HelpDeskAdmin');
    await page.getByRole('button', { name: 'Invite' }).click();
    const link = await page.getByLabel(/^Enrolment link for tom@example.com/).inputValue();
    assert.match(link, new RegExp(`^${server.url}/console/#/enrol/`));
    await page.getByRole('row', { name: /tom@example\.com HelpDeskAdmin invited/ }).waitFor();
    await checkPage(sam, '07-administrators');

    await page.getByRole('link', { name: 'API keys' }).click();
    await heading(page, 'API keys');
    await page.getByLabel('Role').selectOption('ReadOnly');
    await page.getByLabel('Description').fill('dashboard');
    await page.getByRole('button', { name: 'Create key' }).click();
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: /^Download the key file / }).click();
    const keyFile = JSON.parse(await (await download).createReadStream().then(async (s) => {
      let text = '';
      for await (const chunk of s) text += chunk;
      return text;
    })) as { accessID: string; accessKey: string };
    assert.match(keyFile.accessKey, /BEGIN (RSA )?PRIVATE KEY/);
    assert.equal((await server.store.apiKey(keyFile.accessID))?.description, 'dashboard');
    await checkPage(sam, '08-api-keys');
  });

  test('SuperAdmin pages: OAuth clients, the private key offered once, delete confirmed by the client id', async () => {
    const { page } = sam;
    await page.getByRole('link', { name: 'OAuth clients' }).click();
    await heading(page, 'OAuth clients');
    await page.getByText('No OAuth client is registered.').waitFor();
    await page.getByRole('button', { name: 'Create client' }).click();
    await page.getByRole('alert').getByText('Choose at least one scope.').waitFor();
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement).type), 'checkbox', 'the focus goes to the scopes');
    await page.getByLabel('rsa.audit.admin').check();
    await page.getByLabel('rsa.user.read').check();
    await page.getByLabel('Algorithm').selectOption('ES256');
    await page.getByLabel('Description').fill('SIEM collector');
    await page.getByRole('button', { name: 'Create client' }).click();
    const link = page.getByRole('link', { name: /^Download the private key / });
    await link.waitFor();
    const download = page.waitForEvent('download');
    await link.click();
    const saved = await download;
    const jwk = JSON.parse(await saved.createReadStream().then(async (s) => {
      let text = '';
      for await (const chunk of s) text += chunk;
      return text;
    })) as { kty: string; kid: string; alg: string; d: string };
    const [client] = await server.store.oauthClients();
    assert.ok(client);
    assert.equal(saved.suggestedFilename(), `${client.clientId}.json`);
    assert.deepEqual([jwk.kty, jwk.alg, jwk.kid], ['EC', 'ES256', client.kid]);
    assert.deepEqual([client.description, client.scopes], ['SIEM collector', ['rsa.user.read', 'rsa.audit.admin']]);
    assert.ok(jwk.d && !JSON.stringify(client).includes(jwk.d), 'the server keeps the public half only');
    await page.getByRole('row', { name: new RegExp(`${client.clientId} SIEM collector rsa\\.user\\.read rsa\\.audit\\.admin ES256`) }).waitFor();
    await page.getByText(`${server.url}/oauth/token`).waitFor();
    await checkPage(sam, '09-oauth-clients');

    // Offered once: the page seen again has no download, and nothing on it holds the key.
    await page.getByRole('link', { name: 'API keys' }).click();
    await heading(page, 'API keys');
    await page.getByRole('link', { name: 'OAuth clients' }).click();
    await heading(page, 'OAuth clients');
    assert.equal(await link.count(), 0);
    assert.ok(!(await page.content()).includes(jwk.d));

    await page.getByRole('button', { name: `Delete OAuth client ${client.clientId}` }).click();
    const dialog = page.getByRole('dialog', { name: `Delete OAuth client ${client.clientId}?` });
    await dialog.getByLabel(`Type ${client.clientId} to confirm`).fill(client.clientId.slice(0, 8));
    await dialog.getByRole('button', { name: `Delete ${client.clientId}` }).click();
    await dialog.getByRole('alert').getByText(`That is not ${client.clientId}.`).waitFor();
    assert.ok(await server.store.oauthClient(client.clientId), 'nothing deleted on a wrong id');
    await checkPage(sam, '10-oauth-client-delete');
    await dialog.getByLabel(`Type ${client.clientId} to confirm`).fill(client.clientId);
    await dialog.getByRole('button', { name: `Delete ${client.clientId}` }).click();
    await page.getByRole('status').getByText(`OAuth client ${client.clientId} deleted.`).waitFor();
    assert.equal(await server.store.oauthClient(client.clientId), null);
    await server.store.flush();
    const admin = (await server.store.adminByEmail('sam@example.com'))!;
    const events = (await server.store.audit()).filter((e) => e.operation.startsWith('oauthclient.'));
    assert.deepEqual(events.map((e) => [e.operation, e.subject, e.outcome]), [['oauthclient.create', admin.id, 'changed'], ['oauthclient.delete', admin.id, 'changed']]);
  });

  test('a ReadOnly administrator is offered no action, and a forged POST from its session is refused', async () => {
    const rita = await enrolIn('rita@example.com', 'ReadOnly');
    await rita.page.goto(`${server.url}/console/#/user/${JOHN}`);
    await heading(rita.page, 'john.smith@example.com');
    assert.equal(await rita.page.getByRole('button', { name: /Enable|Disable|Clear|Delete/ }).count(), 0);
    assert.equal(await rita.page.getByRole('columnheader', { name: 'Actions' }).count(), 0);
    assert.equal(await rita.page.getByRole('link', { name: 'Administrators' }).count(), 0);
    assert.equal(await rita.page.getByRole('link', { name: 'OAuth clients' }).count(), 0);
    await checkPage(rita, '11-user-read-only');
    await rita.page.goto(`${server.url}/console/#/oauth`);
    await heading(rita.page, 'Search');
    const forged = await rita.page.evaluate(async (userId) => {
      const { csrfToken } = (await (await fetch('api/session')).json()) as { csrfToken: string };
      const res = await fetch('api/credentials/enable', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
        body: JSON.stringify({ userId, deviceSerialNumber: '140100080' }),
      });
      return { status: res.status, body: await res.text() };
    }, JOHN);
    assert.equal(forged.status, 403);
    assert.match(forged.body, /role ReadOnly may not do this/);
    assert.equal((await johns())[0]?.tokenStatus, 'Disabled', 'unchanged');
    await server.store.flush();
    const denied = (await server.store.audit()).filter((e) => e.operation === 'ds100.enable');
    assert.deepEqual(denied.map((e) => [e.outcome, e.status, e.role]), [['denied', 403, 'ReadOnly']]);
  });

  test('a request from another origin, and one without the CSRF token, are refused', async () => {
    // Another origin: a page elsewhere posts a form to the console (a simple request: no preflight).
    const evil: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><title>evil</title><form method="post" enctype="text/plain" action="${server.url}/console/api/credentials/enable">
        <input name='{"userId":"${JOHN}","deviceSerialNumber":"140100080","x":"' value='"}'><button>Win a prize</button></form>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const { page } = sam;
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      await page.getByRole('button', { name: 'Win a prize' }).click();
      await page.waitForURL(`${server.url}/console/api/credentials/enable`);
      assert.match((await page.textContent('body')) ?? '', /did not come from the console/);
      assert.equal((await johns())[0]?.tokenStatus, 'Disabled', 'unchanged');

      // The console's own origin, the session's cookie, but no CSRF token.
      await page.goto(`${server.url}/console/#/search`);
      await heading(page, 'Search');
      const status = await page.evaluate(async (userId) =>
        (await fetch('api/credentials/enable', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId, deviceSerialNumber: '140100080' }) })).status, JOHN);
      assert.equal(status, 403);
      assert.equal((await johns())[0]?.tokenStatus, 'Disabled', 'unchanged');
    } finally {
      await new Promise((resolve) => evil.close(resolve));
    }
  });

  test('an idle session ends: the next action leads to sign-in', async () => {
    const { page } = sam;
    clock.advance(SESSION_IDLE_MS + 1000);
    await page.getByRole('link', { name: 'Activity' }).click();
    await heading(page, 'Sign in');
    await page.getByText('Your session has ended. Sign in again.').waitFor();
    await page.getByRole('button', { name: 'Sign in with a passkey or security key' }).click();
    await heading(page, 'Activity');
  });

  test("a revoked administrator's open session stops working", async () => {
    const tom = await enrolIn('una@example.com', 'HelpDeskAdmin');
    await makeAdminService({ store: server.store, clock, publicUrl: () => server.url }).revoke(operator, 'una@example.com');
    await tom.page.getByLabel('E-mail address starts with').fill('jane');
    await tom.page.getByRole('button', { name: 'Find users' }).click();
    await heading(tom.page, 'Sign in');
    await tom.page.getByText('Your session has ended. Sign in again.').waitFor();
    await tom.page.getByRole('button', { name: 'Sign in with a passkey or security key' }).click();
    await tom.page.getByRole('alert').getByText('The passkey or security key was not accepted.').waitFor();
  });
});
