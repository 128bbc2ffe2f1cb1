/**
 * `keys delete` in another process while `serve` runs: the server caches API keys in memory
 * (src/store/sqlite: `PRAGMA data_version` tells it when to drop them), and a deleted key's
 * token, which worked a moment before and sits in the verified-token cache, is refused at once.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { tempDir } from '../support/stores.ts';
import { callApi, runCli, startServe, stopServe, tokenFromKeyFile, type ServeProcess } from '../support/serve-process.ts';

let server: ServeProcess | undefined;
const data = tempDir('ds100-key-delete-');
after(async () => {
  await stopServe(server);
  data.dispose();
});

test('a key deleted by the CLI is refused by the running server on its next request', async () => {
  server = await startServe(['--data', data.path, '--port', '0', '--demo', '--log-level', 'warn']);
  const created = await runCli(['keys', 'create', '--role', 'HelpDeskAdmin', '--data', data.path, '--public-url', server.url]);
  assert.equal(created.code, 0, created.stderr);
  const keyPath = created.stdout.trim().split('\n').pop()!;
  const token = await tokenFromKeyFile(keyPath, server.url);
  const body = { deviceSerialNumber: '140100080' };

  for (let i = 0; i < 3; i++) assert.equal((await callApi(server.url, token, 'POST', '/v1/ds100/lookup', body)).status, 200);

  const accessId = keyPath.split('/').pop()!.replace(/\.key$/, '');
  const deleted = await runCli(['keys', 'delete', accessId, '--data', data.path]);
  assert.equal(deleted.code, 0, deleted.stderr);

  const refused = await callApi(server.url, token, 'POST', '/v1/ds100/lookup', body);
  assert.equal(refused.status, 403);
  assert.equal((refused.json as { message: string }).message, 'Invalid Access Id');
});
