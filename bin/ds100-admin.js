#!/usr/bin/env node
// An installed package runs its compiled JavaScript from dist/. A checkout of the repository
// (which has src/ and no build) runs the TypeScript sources through tsx, with the repository's
// tsconfig whatever the working folder, so that `npm start` and `npx ds100-admin` need no build.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
