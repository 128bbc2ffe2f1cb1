import { userInfo } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import type { Actor } from '../domain/types.ts';
import { ApiError } from '../errors.ts';
import { ApiResponseError, ConnectionError, KeyFileError, RequestTimeoutError, UnexpectedResponseError } from '@ds100-admin/sdk';
import { openStore } from '../store/open.ts';
import type { Store } from '../domain/store.ts';

/** A problem to report in one line, with the exit code to leave with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Exit codes every command keeps (README, "Exit codes"); `reportError` is the one table into them. */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3, refused: 4, server: 5, interrupted: 130 } as const;

export interface DataOptions {
  data: string;
  databaseUrl?: string;
}

/** `--data` and `--database-url`, the same on every command that opens the store. */
export function withDataOptions(command: Command): Command {
  return command
    .option('--data <dir>', 'data folder (SQLite database and key files)', process.env.DS100_DATA ?? './data')
    .option('--database-url <url>', 'PostgreSQL URL instead of the SQLite file (or DATABASE_URL)', process.env.DATABASE_URL);
}

/** Opens the store for the length of `work`, and closes it whatever happens. */
export async function usingStore<T>(options: DataOptions, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dataDir: options.data, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** The audit trail's name for an operator at this machine's command line. */
export function cliActor(): Actor {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (a container): keep 'unknown'
  }
  return { kind: 'operator', subject: `cli:${name}`, role: null, clientAddress: 'local', requestId: null };
}

/** What an HTTP status means to the exit code, for answers from a server and refusals of the domain alike. */
function exitForStatus(status: number): number {
  if (status === 400) return EXIT.usage;
  if (status === 404) return EXIT.notFound;
  if (status === 401 || status === 403 || status === 429) return EXIT.refused;
  if (status >= 500) return EXIT.server;
  return EXIT.failure;
}

/**
 * Turns any error into the one line the user sees and the exit code: the one table of the CLI,
 * for the commands that open the store and those that call a server through the SDK.
 */
export function reportError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof ApiError) return { message: error.description, exitCode: exitForStatus(error.status) };
  if (error instanceof KeyFileError) return { message: error.message, exitCode: EXIT.usage };
  if (error instanceof ApiResponseError) return { message: error.message, exitCode: exitForStatus(error.status) };
  if (error instanceof ConnectionError || error instanceof RequestTimeoutError || error instanceof UnexpectedResponseError) {
    return { message: error.message, exitCode: EXIT.server };
  }
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT' && e.path) return { message: `no such file: ${e.path}`, exitCode: EXIT.failure };
  if (e?.code === 'EACCES' && e.path) return { message: `permission denied: ${e.path}`, exitCode: EXIT.failure };
  return { message: e instanceof Error ? e.message : String(error), exitCode: EXIT.failure };
}

/** A whole number within bounds, for numeric flags. */
export function parseCount(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
    return n;
  };
}
