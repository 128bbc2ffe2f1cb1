/**
 * The console's bundle as `npm run build` makes it, and as the server serves it: one script file
 * under its size budget, no inline script or style, nothing from another origin, and a strict
 * Content-Security-Policy on every console answer.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_SCRIPT_GZIP_BYTES, buildConsole } from '../../scripts/build-console.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { tempDir } from '../support/stores.ts';

describe('the console bundle', () => {
  const out = tempDir('ds100-bundle-');
  let server: TestServer;
  let built: Awaited<ReturnType<typeof buildConsole>>;
  before(async () => {
    built = await buildConsole(out.path);
    server = await startServer({ publicHost: 'localhost', console: { assets: out.path } });
  });
  after(async () => {
    await server.close();
    out.dispose();
  });

  test(`its script is under ${MAX_SCRIPT_GZIP_BYTES / 1024} KB gzipped`, () => {
    assert.ok(built.scriptGzipBytes > 1000 && built.scriptGzipBytes < MAX_SCRIPT_GZIP_BYTES, String(built.scriptGzipBytes));
  });

  test('the page loads its one script and style sheet from its own origin, and inlines neither', async () => {
    const html = await readFile(join(out.path, 'index.html'), 'utf8');
    assert.deepEqual([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]), ['<script type="module" src="console.js">']);
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=|https?:\/\//i);
    const css = await readFile(join(out.path, 'console.css'), 'utf8');
    assert.doesNotMatch(css, /@import|url\(/);
  });

  test('every console answer carries the strict policy; the page, script and style sheet are served', async () => {
    for (const [path, type] of [['/console/', 'text/html'], ['/console/console.js', 'text/javascript'], ['/console/console.css', 'text/css'], ['/console/api/session', 'application/json']] as const) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, path.includes('/api/') ? 401 : 200, path);
      assert.match(res.headers.get('content-type') ?? '', new RegExp(`^${type}`), path);
      assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", path);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    }
    const redirect = await fetch(`${server.url}/console`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/console/');
  });

  test('a server without the built bundle says how to build it', async () => {
    const bare = await startServer({ console: { assets: join(out.path, 'missing') } });
    try {
      const res = await fetch(`${bare.url}/console/`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /npm run build/);
    } finally {
      await bare.close();
    }
  });
});
