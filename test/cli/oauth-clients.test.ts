/**
 * `oauth-clients` and the client commands' OAuth options, against a real `serve` process: a client
 * made by `create` (its private JWK written once, mode 0600) calls the API through `otp lookup`
 * and `user lookup`; `delete` in another process is refused by the running server at once; bad
 * scopes and keys are refused with exit 2, registering nothing.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../support/stores.ts';
import { runCli, startServe, stopServe, type ServeProcess } from '../support/serve-process.ts';

let server: ServeProcess | undefined;
const data = tempDir('ds100-oauth-cli-');
let issuer: string;

before(async () => {
  server = await startServe(['--data', data.path, '--port', '0', '--demo', '--log-level', 'warn']);
  issuer = `${server.url}/oauth`;
});
after(async () => {
  await stopServe(server);
  data.dispose();
});

/** Runs `oauth-clients create` and reads what it printed. */
async function create(args: string[]): Promise<{ clientId: string; path: string; stdout: string }> {
  const made = await runCli(['oauth-clients', 'create', '--data', data.path, '--public-url', server!.url, ...args]);
  assert.equal(made.code, 0, made.stderr);
  const clientId = /^client id: +(\S+)$/m.exec(made.stdout)![1]!;
  return { clientId, path: made.stdout.trim().split('\n').pop()!, stdout: made.stdout };
}

const oauthArgs = (c: { clientId: string; path: string }) => ['--jwk-file', c.path, '--client-id', c.clientId, '--issuer', issuer];

describe('oauth-clients create', () => {
  for (const alg of ['RS256', 'ES256']) {
    test(`${alg}: writes the private JWK once (0600), prints id, issuer and path; the client calls the API through the CLI`, async () => {
      const c = await create(['--scope', 'rsa.authenticator.ds100.read rsa.user.read', '--alg', alg, '--description', 'help desk bot']);
      assert.match(c.stdout, new RegExp(`^issuer: +${issuer.replace(/[.]/g, '\\.')}$`, 'm'));
      assert.equal(c.path, join(data.path, 'oauth-clients', `${c.clientId}.json`));
      assert.equal(statSync(c.path).mode & 0o777, 0o600);
      const jwk = JSON.parse(readFileSync(c.path, 'utf8')) as Record<string, string>;
      assert.deepEqual(Object.keys(jwk).slice(0, 4), ['kty', 'kid', 'alg', 'use']);
      assert.equal(jwk.alg, alg);
      assert.equal(jwk.use, 'sig');
      assert.equal(typeof jwk.d, 'string');

      const lookup = await runCli(['otp', 'lookup', ...oauthArgs(c), '--device', '140100080', '--json']);
      assert.equal(lookup.code, 0, lookup.stderr);
      assert.ok((JSON.parse(lookup.stdout) as unknown[]).length > 0);
      const user = await runCli(['user', 'lookup', ...oauthArgs(c), '--scope', 'rsa.user.read', '--email', 'jane.doe@example.com', '--json']);
      assert.equal(user.code, 0, user.stderr);
      // Beyond its scopes: refused (exit 4), nothing changed.
      const refused = await runCli(['otp', 'disable', ...oauthArgs(c), '--device', '140100080', '--user', 'jane.doe@example.com']);
      assert.equal(refused.code, 4, refused.stderr);
      assert.match(refused.stderr, /Not authorized/);
    });
  }

  test('without --public-url: the issuer printed is that of the URL the server runs with; another URL is warned of', async () => {
    const made = await runCli(['oauth-clients', 'create', '--data', data.path, '--scope', 'rsa.user.read']);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.stderr, '', "no warning when the URL is the server's");
    assert.match(made.stdout, new RegExp(`^issuer: +${issuer.replace(/[.]/g, '\\.')}$`, 'm'));
    const other = await runCli(['oauth-clients', 'create', '--data', data.path, '--scope', 'rsa.user.read', '--public-url', 'https://elsewhere.example.com']);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stderr, new RegExp(`warning: --public-url https://elsewhere\\.example\\.com is not the URL the server runs with \\(${server!.url.replace(/[.]/g, '\\.')}\\)`));
    assert.match(other.stdout, /^issuer: +https:\/\/elsewhere\.example\.com\/oauth$/m, 'what the operator asked for, warned');
  });

  test('--public-key registers a key the client made (PEM or public JWK) and writes no file; a private key is refused', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = join(data.path, 'client.pub.pem');
    writeFileSync(pem, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    const before = readdirSync(join(data.path, 'oauth-clients')).length;
    const fromPem = await runCli(['oauth-clients', 'create', '--data', data.path, '--scope', 'rsa.user.read', '--public-key', pem]);
    assert.equal(fromPem.code, 0, fromPem.stderr);
    assert.match(fromPem.stdout, /^alg, kid: +ES256 /m);
    const jwkFile = join(data.path, 'client.pub.json');
    writeFileSync(jwkFile, JSON.stringify({ ...pair.publicKey.export({ format: 'jwk' }), kid: 'my-key', alg: 'ES256' }));
    const fromJwk = await runCli(['oauth-clients', 'create', '--data', data.path, '--scope', 'rsa.user.read', '--public-key', jwkFile]);
    assert.equal(fromJwk.code, 0, fromJwk.stderr);
    assert.match(fromJwk.stdout, /^alg, kid: +ES256 my-key$/m);
    assert.equal(readdirSync(join(data.path, 'oauth-clients')).length, before);

    const listed = (n: number) => runCli(['oauth-clients', 'list', '--data', data.path, '--json']).then((r) => assert.equal((JSON.parse(r.stdout) as unknown[]).length, n));
    const count = (JSON.parse((await runCli(['oauth-clients', 'list', '--data', data.path, '--json'])).stdout) as unknown[]).length;
    const privateJwk = join(data.path, 'client.private.json');
    writeFileSync(privateJwk, JSON.stringify(pair.privateKey.export({ format: 'jwk' })));
    const privatePem = join(data.path, 'client.private.pem');
    writeFileSync(privatePem, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const rsaAsEs = join(data.path, 'rsa.pub.pem');
    writeFileSync(rsaAsEs, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
    for (const [file, why, extra] of [[privateJwk, /private key/, []], [privatePem, /private key/, []], [rsaAsEs, /ES256 needs an EC key/, ['--alg', 'ES256']]] as const) {
      const refused = await runCli(['oauth-clients', 'create', '--data', data.path, '--scope', 'rsa.user.read', '--public-key', file, ...extra]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, why);
    }
    await listed(count);
  });

  test('a scope outside the table, or none, is refused (exit 2) and registers nothing', async () => {
    const before = (await runCli(['oauth-clients', 'list', '--data', data.path, '--json'])).stdout;
    for (const scope of ['rsa.user.write', 'rsa.user.read openid', ' ']) {
      const refused = await runCli(['oauth-clients', 'create', '--data', data.path, '--scope', scope]);
      assert.equal(refused.code, 2, `${scope}: ${refused.stderr}`);
    }
    assert.equal((await runCli(['oauth-clients', 'list', '--data', data.path, '--json'])).stdout, before);
  });
});

describe('oauth-clients delete', () => {
  test('in another process: the running server refuses the client\'s next call at once', async () => {
    const c = await create(['--scope', 'rsa.authenticator.ds100.read']);
    // A token the server has verified and cached, got as the README does it by hand.
    const assertion = await runCli(['oauth-clients', 'assertion', ...oauthArgs(c)]);
    assert.equal(assertion.code, 0, assertion.stderr);
    const grant = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=${assertion.stdout.trim()}`,
    });
    assert.equal(grant.status, 200);
    const token = ((await grant.json()) as { access_token: string }).access_token;
    const lookup = () =>
      fetch(`${server!.url}/AdminInterface/restapi/v1/ds100/lookup`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ deviceSerialNumber: '140100080' }),
      });
    for (let i = 0; i < 3; i++) assert.equal((await lookup()).status, 200);
    const deleted = await runCli(['oauth-clients', 'delete', c.clientId, '--data', data.path]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await lookup()).status, 401);
    const again = await runCli(['oauth-clients', 'delete', c.clientId, '--data', data.path]);
    assert.equal(again.code, 3);
  });
});
