import { readFileSync } from 'node:fs';

/**
 * The server's version, read once from its package.json: the file is one folder above this
 * one's parent both in the sources (src/contract) and in the build (dist/contract).
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
