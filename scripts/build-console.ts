/**
 * Builds the console's bundle into dist/console (or the folder given): the page, its style sheet
 * and one minified script made by esbuild from src/ui. Run by `npm run build` (and so `prepack`);
 * the browser tests build their own copy with `buildConsole`.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const UI_SOURCES = join(ROOT, 'src', 'ui');
/** The bundle's budget, gzipped (issue 14: under 100 KB). */
export const MAX_SCRIPT_GZIP_BYTES = 100 * 1024;

export async function buildConsole(outDir = join(ROOT, 'dist', 'console')): Promise<{ dir: string; scriptGzipBytes: number }> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(UI_SOURCES, 'main.ts')],
    outfile: join(outDir, 'console.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16'],
    legalComments: 'none',
    logLevel: 'warning',
  });
  await copyFile(join(UI_SOURCES, 'index.html'), join(outDir, 'index.html'));
  await copyFile(join(UI_SOURCES, 'console.css'), join(outDir, 'console.css'));
  const scriptGzipBytes = gzipSync(await readFile(join(outDir, 'console.js'))).length;
  if (scriptGzipBytes > MAX_SCRIPT_GZIP_BYTES) throw new Error(`the console's script is ${scriptGzipBytes} bytes gzipped, over its ${MAX_SCRIPT_GZIP_BYTES}`);
  return { dir: outDir, scriptGzipBytes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { dir, scriptGzipBytes } = await buildConsole(process.argv[2]);
  console.log(`console built in ${dir} (script ${(scriptGzipBytes / 1024).toFixed(1)} KiB gzipped)`);
}
