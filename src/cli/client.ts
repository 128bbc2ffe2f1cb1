import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { Ds100AdminClient } from '@ds100-admin/sdk';
import { CliError, EXIT, parseCount } from './common.ts';

/** The options every command that calls an API server takes. */
export interface ClientCliOptions {
  keyFile?: string;
  jwkFile?: string;
  clientId?: string;
  issuer?: string;
  scope?: string;
  baseUrl?: string;
  audience?: string;
  json?: boolean;
  table?: boolean;
  timeout: number;
  retries: number;
  ca?: string;
}

/**
 * `--key-file` (or, for an OAuth client, `--jwk-file --client-id --issuer [--scope]`),
 * `--base-url`, `--json`, ...: the same on every client command.
 */
export function withClientOptions(command: Command): Command {
  return command
    .addOption(new Option('--key-file <path>', 'the Administration API key file (<accessID>.key)').env('DS100_KEY_FILE'))
    .addOption(new Option('--jwk-file <path>', "instead of --key-file: an OAuth client's private JWK file (oauth-clients create)").env('DS100_JWK_FILE'))
    .addOption(new Option('--client-id <id>', 'with --jwk-file: the OAuth client id').env('DS100_CLIENT_ID'))
    .addOption(new Option('--issuer <url>', 'with --jwk-file: the OAuth issuer, e.g. https://admin.example.com/oauth').env('DS100_ISSUER'))
    .option('--scope <scopes>', 'with --jwk-file: the scopes to ask for, space-separated (default: all the client holds)')
    .option('--base-url <url>', "the server's admin REST URL or origin, instead of the key file's adminRestApiUrl")
    .option('--ca <file>', "PEM CA certificate(s) to trust for an https:// server instead of the system's (e.g. <data>/tls/ca.pem of serve --tls-self-signed)")
    .option('--audience <url>', 'the JWT aud, when the server is reached at another address than its public URL (a tunnel)')
    .option('--json', 'print JSON (the default when stdout is not a terminal)')
    .option('--table', 'print a table even when stdout is not a terminal')
    .option('--timeout <seconds>', 'per-request timeout in seconds', parseCount('--timeout', 1, 3600), 30)
    .option('--retries <n>', 'retries of a 429, 502, 503, 504 or connection reset (0: none)', parseCount('--retries', 0, 10), 3);
}

/** A client from the command's options: a key file's, or an OAuth client's. */
export async function clientFrom(o: ClientCliOptions): Promise<Ds100AdminClient> {
  const common = {
    ...(o.baseUrl ? { baseUrl: o.baseUrl } : {}),
    ...(o.ca ? { ca: readCa(o.ca) } : {}),
    timeoutMs: o.timeout * 1000,
    retry: o.retries === 0 ? (false as const) : { maxRetries: o.retries },
  };
  try {
    if (o.jwkFile !== undefined) {
      if (o.keyFile !== undefined) throw new CliError('give --key-file or --jwk-file, not both', EXIT.usage);
      if (!o.clientId || !o.issuer) throw new CliError('--jwk-file needs --client-id and --issuer', EXIT.usage);
      return await Ds100AdminClient.fromOAuthClient({
        ...common,
        jwkFile: o.jwkFile,
        clientId: o.clientId,
        issuer: o.issuer,
        ...(o.scope ? { scope: o.scope } : {}),
      });
    }
    if (o.keyFile === undefined) throw new CliError('required option --key-file (or --jwk-file with --client-id and --issuer) not specified', EXIT.usage);
    return await Ds100AdminClient.fromKeyFile(o.keyFile, { ...common, ...(o.audience ? { audience: o.audience } : {}) });
  } catch (e) {
    if (e instanceof TypeError) throw new CliError(e.message, EXIT.usage);
    throw e;
  }
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CliError(`cannot read --ca ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, EXIT.usage);
  }
}

/** JSON when asked for or when stdout is not a terminal; a table otherwise. */
export function wantsJson(o: { json?: boolean; table?: boolean }): boolean {
  if (o.json) return true;
  if (o.table) return false;
  return !process.stdout.isTTY;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const cell = (v: unknown): string => (v === null || v === undefined ? '-' : String(v));

/** Rows as an aligned table with a header line. */
export function printTable(rows: Array<Record<string, unknown>>, columns: string[]): void {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** One record as `name  value` lines. */
export function printRecord(record: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  process.stdout.write(`${Object.entries(record).map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`).join('\n')}\n`);
}

/** The user id for `--user`: taken as it is, or looked up first when it is an e-mail address. */
export async function resolveUser(client: Ds100AdminClient, user: string): Promise<string> {
  if (!user.includes('@')) return user;
  return (await client.lookupUser({ email: user })).id;
}
