import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { CliError } from './common.ts';

/**
 * Reads an import file as a stream of records, whatever its size: CSV with a header row, JSON
 * lines (one object per line), or a JSON array (read whole: use CSV or JSON lines for large
 * files). Header names are matched without regard to case, `-` or `_`.
 */
export async function* readRecords(path: string): AsyncGenerator<Record<string, string | boolean | undefined>> {
  const first = await firstCharacter(path);
  if (first === '[') {
    const { readFile } = await import('node:fs/promises');
    let data: unknown;
    try {
      data = JSON.parse(await readFile(path, 'utf8'));
    } catch (e) {
      throw new CliError(`${path} is not valid JSON: ${(e as Error).message}`);
    }
    for (const [i, row] of (data as unknown[]).entries()) yield normalize(row, i + 1, path);
    return;
  }
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let header: string[] | undefined;
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    if (first === '{') {
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        throw new CliError(`${path}:${n}: not a JSON object`);
      }
      yield normalize(row, n, path);
    } else if (!header) {
      header = parseCsvLine(line, path, n).map(normalizeName);
    } else {
      const cells = parseCsvLine(line, path, n);
      if (cells.length !== header.length) throw new CliError(`${path}:${n}: ${cells.length} fields where the header has ${header.length}`);
      yield Object.fromEntries(header.map((h, i) => [h, cells[i] === '' ? undefined : cells[i]]));
    }
  }
}

const normalizeName = (name: string): string => name.trim().toLowerCase().replace(/[-_ ]/g, '');

function normalize(row: unknown, n: number, path: string): Record<string, string | boolean | undefined> {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new CliError(`${path}: record ${n} is not an object`);
  const out: Record<string, string | boolean | undefined> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || v === undefined) continue;
    if (typeof v !== 'string' && typeof v !== 'boolean' && typeof v !== 'number') {
      throw new CliError(`${path}: record ${n}: ${k} must be a string`);
    }
    out[normalizeName(k)] = typeof v === 'number' ? String(v) : v;
  }
  return out;
}

/** One CSV line (RFC 4180 quoting, without line breaks inside quotes). */
export function parseCsvLine(line: string, path: string, n: number): string[] {
  if (!line.includes('"')) return line.split(',').map((c) => c.trim());
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cell.trim());
      cell = '';
    } else cell += ch;
  }
  if (quoted) throw new CliError(`${path}:${n}: unterminated quote`);
  cells.push(cell.trim());
  return cells;
}

async function firstCharacter(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buf, 0, 64, 0);
    return buf.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').trimStart()[0] ?? '';
  } finally {
    await handle.close();
  }
}

/** The first of several accepted column names that the record has. */
export function field(record: Record<string, string | boolean | undefined>, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = record[n];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}
