import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { CliError, EXIT } from './common.ts';

/** A record's values by column name (normalized: see `normalizeName`), as the file gave them. */
export type Values = Map<string, unknown>;

/**
 * One record of an input file, named by `at` (`rows.csv:12`, `rows.json: record 3`): its
 * values, or why it could not be read (a message that leaves the naming to `at`).
 */
export type FileRecord = { at: string; values: Values } | { at: string; error: CliError };

export interface ReadOptions {
  /**
   * The columns a CSV header must have, each as the list of its accepted names. A header without
   * one is refused before any record is read (JSON has no header: each record is checked alone).
   */
  required?: string[][];
}

const BOM = /^\uFEFF/;

/**
 * Reads an input file as a stream of records, whatever its size: CSV with a header row, JSON
 * lines (one object per line), or a JSON array (read whole: use CSV or JSON lines for large
 * files). Header names and keys are matched without regard to case, `-`, `_` or spaces; a
 * leading byte order mark is skipped in every format. A line that cannot be read is yielded as
 * an error record, so that the caller decides whether to go on past it.
 */
export async function* readRecords(path: string, { required = [] }: ReadOptions = {}): AsyncGenerator<FileRecord> {
  const first = await firstCharacter(path);
  if (first === '[') {
    let data: unknown;
    try {
      data = JSON.parse((await readFile(path, 'utf8')).replace(BOM, ''));
    } catch (e) {
      throw new CliError(`${path} is not valid JSON: ${(e as Error).message}`, EXIT.usage);
    }
    if (!Array.isArray(data)) throw new CliError(`${path} is not a JSON array`, EXIT.usage);
    for (const [i, row] of data.entries()) yield fromJson(row, `${path}: record ${i + 1}`);
    return;
  }
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let header: string[] | undefined;
  let n = 0;
  for await (const text of lines) {
    const line = ++n === 1 ? text.replace(BOM, '') : text;
    if (line.trim() === '') continue;
    const at = `${path}:${n}`;
    if (first === '{') {
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        yield { at, error: new CliError('not a JSON object', EXIT.usage) };
        continue;
      }
      yield fromJson(row, at);
    } else if (!header) {
      try {
        header = parseCsvLine(line).map(normalizeName);
      } catch (error) {
        throw error instanceof CliError ? new CliError(`${at}: ${error.message}`, error.exitCode) : error;
      }
      checkHeader(path, header, required);
    } else {
      try {
        const cells = parseCsvLine(line);
        if (cells.length !== header.length) throw new CliError(`${cells.length} fields where the header has ${header.length}`, EXIT.usage);
        yield { at, values: new Map(header.map((h, i) => [h, cells[i] === '' ? undefined : cells[i]])) };
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        yield { at, error };
      }
    }
  }
  if (first !== '{' && !header) throw new CliError(`${path} has no header row`, EXIT.usage);
}

const normalizeName = (name: string): string => name.trim().toLowerCase().replace(/[-_ ]/g, '');

function checkHeader(path: string, header: string[], required: string[][]): void {
  const missing = required.filter((names) => !names.some((name) => header.includes(normalizeName(name))));
  if (missing.length === 0) return;
  const wanted = missing.map((names) => names.join(' or ')).join('; ');
  throw new CliError(`${path}: the header row has no column ${wanted}, so nothing was read`, EXIT.usage);
}

function fromJson(row: unknown, at: string): FileRecord {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return { at, error: new CliError('not a JSON object', EXIT.usage) };
  return { at, values: new Map(Object.entries(row).map(([k, v]) => [normalizeName(k), v ?? undefined])) };
}

/** One CSV line (RFC 4180 quoting, without line breaks inside quotes). */
export function parseCsvLine(line: string): string[] {
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
  if (quoted) throw new CliError('unterminated quote', EXIT.usage);
  cells.push(cell.trim());
  return cells;
}

async function firstCharacter(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buf, 0, 64, 0);
    return buf.subarray(0, bytesRead).toString('utf8').replace(BOM, '').trimStart()[0] ?? '';
  } finally {
    await handle.close();
  }
}

const kindOf = (v: unknown): string => (Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/**
 * The value of the first of a column's accepted names that the record has, or undefined when it
 * is absent or blank. Only a string is a value: a JSON number has already lost its leading
 * zeros, or its last digits, or the way it was written (`1e3`), by the time it is read, so it is
 * refused rather than turned into some other serial.
 */
export function field(values: Values, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = values.get(normalizeName(name));
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') {
      const why = typeof v === 'number' ? ': write it in quotes, as a JSON number loses digits and leading zeros' : '';
      throw new CliError(`${name} must be a string, not ${kindOf(v)}${why}`, EXIT.usage);
    }
    if (v.trim() !== '') return v;
  }
  return undefined;
}
