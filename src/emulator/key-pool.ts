import { lstat, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRsaKeyPair } from '../auth/keyfile.ts';

/**
 * RSA key pairs for the emulator's default keys (one per role), kept between runs: making three
 * 2048-bit pairs takes a second or more on a busy machine, most of an emulator's start. The pairs
 * are registered afresh, under new access ids, in each emulator's own throwaway tenant, and never
 * by `serve`; so a pair read from here grants nothing but calls to an emulator that registered
 * it. The folder is the user's own (0700, checked: not a link, not another user's), the file 0600.
 */
const poolDir = (): string => join(tmpdir(), `ds100-admin-emulator-${process.getuid?.() ?? 'user'}`);

interface KeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

async function ownedFolder(dir: string): Promise<boolean> {
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  const s = await lstat(dir);
  return s.isDirectory() && (process.getuid === undefined || s.uid === process.getuid()) && (s.mode & 0o077) === 0;
}

/** `count` distinct key pairs: those kept from earlier runs, and new ones (kept for the next) for the rest. */
export async function pooledKeyPairs(count: number): Promise<KeyPair[]> {
  const dir = poolDir();
  const file = join(dir, 'key-pairs.json');
  let usable = false;
  let kept: KeyPair[] = [];
  try {
    usable = await ownedFolder(dir);
    if (usable) kept = (JSON.parse(await readFile(file, 'utf8')) as KeyPair[]).filter((p) => typeof p?.privateKeyPem === 'string' && typeof p.publicKeyPem === 'string');
  } catch {
    // no pool yet, or unreadable: make the pairs
  }
  if (kept.length >= count) return kept.slice(0, count);
  const made = await Promise.all(Array.from({ length: count - kept.length }, () => generateRsaKeyPair()));
  const pairs = [...kept, ...made];
  if (usable) {
    const partial = `${file}.${process.pid}`;
    await writeFile(partial, JSON.stringify(pairs), { mode: 0o600 })
      .then(() => rename(partial, file))
      .catch(() => {});
  }
  return pairs;
}
