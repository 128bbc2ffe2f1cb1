import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { apiError } from '../../errors.ts';
import { sendError } from '../plugins/errors.ts';
import { CONSOLE_PATH } from './session.ts';

/**
 * Where `npm run build` writes the console's page, script and style sheet: `dist/console` of
 * the package, three folders up from this module both as source (src/http/console) and built
 * (dist/http/console).
 */
export const BUILT_ASSETS = fileURLToPath(new URL('../../../dist/console/', import.meta.url));

/** The files of the bundle, by the name they are served under. */
const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
} as const;

/**
 * No script but the bundle's own file, no style but its style sheet, nothing from another
 * origin, no framing: a value injected into a page has nothing to run.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** The headers of every console answer, JSON calls included. */
export function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    .header('X-Content-Type-Options', 'nosniff')
    .header('X-Frame-Options', 'DENY')
    .header('Referrer-Policy', 'no-referrer')
    .header('Cross-Origin-Opener-Policy', 'same-origin');
}

/** Serves the bundle from `dir`, read once; without a build, a 503 that says to build it. */
export function registerAssets(app: FastifyInstance, dir: string): void {
  const files = new Map<string, { type: string; body: Buffer }>();
  if (existsSync(join(dir, 'index.html'))) {
    for (const [name, type] of Object.entries(FILES)) files.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  const serve = (name: keyof typeof FILES) => async (request: Parameters<typeof sendError>[0], reply: FastifyReply) => {
    const file = files.get(name);
    if (!file) return sendError(request, reply, apiError('CONSOLE_NOT_BUILT'));
    return securityHeaders(reply).type(file.type).send(file.body);
  };
  app.get(CONSOLE_PATH, async (_request, reply) => reply.redirect(`${CONSOLE_PATH}/`, 301));
  app.get(`${CONSOLE_PATH}/`, serve('index.html'));
  for (const name of ['console.js', 'console.css'] as const) app.get(`${CONSOLE_PATH}/${name}`, serve(name));
}
