/**
 * The repository stands alone: a fresh clone has everything its code, tests and documents name.
 * Nothing may read or link a path outside the repository root (the project once read the vendor
 * fixtures from a folder beside it, and 16 suites failed in every fresh clone), and every link
 * between the documents, and every `docs/*.md` a comment names, must reach a file and heading
 * that exist.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Files under version control, and new ones not ignored, that exist in the working tree. */
function repositoryFiles(): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  return [...new Set(listed.split('\0'))]
    .filter((f) => f !== '' && f !== 'package-lock.json' && !f.split('/').includes('node_modules'))
    .filter((f) => existsSync(path.join(root, f)))
    .sort();
}

/** The text of every text file (a NUL byte marks a binary one). */
const texts = repositoryFiles()
  .map((file) => ({ file, text: readFileSync(path.join(root, file), 'utf8') }))
  .filter(({ text }) => !text.includes('\u0000'));

const isInside = (target: string): boolean => {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/** The sibling folder the project used to read from, spelled so that this file does not name it. */
const SIBLING = ['..', 'shared'].join('/');

/**
 * A path built in code from a base folder and a relative literal: `resolve` or `join` of a root
 * or of `import.meta.dirname`, and `new URL` of `import.meta.url`. Group `base` is the base
 * expression, `rel` the literal.
 */
const BUILT_PATH = [
  /\b(?:resolve|join)\(\s*(?<base>[\w.]+)\s*,\s*(?<q>['"`])(?<rel>[^'"`]*)\k<q>/g,
  /\bnew URL\(\s*(?<q>['"`])(?<rel>[^'"`]*)\k<q>\s*,\s*(?<base>import\.meta\.url)\s*\)/g,
];

/** Where a base expression points: the file's own folder, the repository root, or unknown (null). */
function baseOf(base: string, file: string): string | null {
  if (/^(?:import\.meta\.(?:dirname|url)|__dirname)$/.test(base)) return path.dirname(path.join(root, file));
  if (/root/i.test(base)) return root;
  return null;
}

function pathsOutside(file: string, text: string): string[] {
  const found: string[] = [];
  for (const pattern of BUILT_PATH) {
    for (const m of text.matchAll(pattern)) {
      const { base, rel } = m.groups as { base: string; rel: string };
      const from = baseOf(base, file);
      if (from === null || !rel.startsWith('..')) continue;
      if (!isInside(path.resolve(from, rel))) found.push(`${file}:${lineOf(text, m.index)}: ${m[0]}`);
    }
  }
  return found;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of withoutCode(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Markdown without its fenced code blocks, line count kept. */
const withoutCode = (markdown: string): string => markdown.replace(/^```[\s\S]*?^```/gm, (block) => block.replace(/[^\n]/g, ''));

/** Why a link or reference to `target` (a repository path, maybe with `#anchor`) does not resolve, or null. */
function brokenTarget(target: string): string | null {
  const [file, anchor] = target.split('#', 2) as [string, string | undefined];
  if (!isInside(file)) return 'points outside the repository';
  if (!existsSync(file)) return 'names a file that does not exist';
  if (anchor && file.endsWith('.md') && !anchorsOf(readFileSync(file, 'utf8')).has(anchor)) return `has no heading #${anchor}`;
  return null;
}

test(`no file names the sibling folder ${SIBLING}`, () => {
  const hits = texts.flatMap(({ file, text }) =>
    [...text.matchAll(new RegExp(SIBLING.replace(/\./g, '\\.'), 'g'))].map((m) => `${file}:${lineOf(text, m.index)}`),
  );
  assert.deepEqual(hits, []);
});

test('no code builds a path above the repository root', () => {
  const code = texts.filter(({ file }) => /\.(?:[cm]?[jt]s)$/.test(file));
  assert.ok(code.length > 50, 'the code was read');
  assert.deepEqual(code.flatMap(({ file, text }) => pathsOutside(file, text)), []);
});

test('every relative link in the Markdown documents reaches a file (and heading) inside the repository', () => {
  const markdown = texts.filter(({ file }) => file.endsWith('.md'));
  assert.ok(markdown.some(({ file }) => file === 'README.md'), 'the README was read');
  const broken: string[] = [];
  for (const { file, text } of markdown) {
    const prose = withoutCode(text);
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const link = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
      const target = link.startsWith('#') ? `${path.join(root, file)}${link}` : path.resolve(path.dirname(path.join(root, file)), decodeURI(link));
      const why = brokenTarget(target);
      if (why) broken.push(`${file}:${lineOf(prose, m.index)}: (${link}) ${why}`);
    }
  }
  assert.deepEqual(broken, []);
});

test('every docs/*.md that a file names exists, with the heading it names', () => {
  const broken: string[] = [];
  for (const { file, text } of texts) {
    for (const m of text.matchAll(/(?<![\w/.-])docs\/[\w.-]+\.md(?:#[\w-]+)?/g)) {
      const why = brokenTarget(path.join(root, m[0]));
      if (why) broken.push(`${file}:${lineOf(text, m.index)}: ${m[0]} ${why}`);
    }
  }
  assert.deepEqual(broken, []);
});
