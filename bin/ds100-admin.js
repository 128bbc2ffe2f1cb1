#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader, so that the package needs no build step
// before `npm start` or `npx ds100-admin` on a fresh clone.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
