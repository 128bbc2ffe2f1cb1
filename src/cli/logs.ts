import { setTimeout as sleep } from 'node:timers/promises';
import { Argument, type Command } from 'commander';
import type { AdminLogEntry, Ds100AdminClient, UserEventLogEntry } from '@ds100-admin/sdk';
import { parseTime } from '../domain/event-log.ts';
import { ApiError } from '../errors.ts';
import { printable } from '../domain/printable.ts';
import { CliError, EXIT, parseCount } from './common.ts';
import { clientFrom, wantsJson, withClientOptions, type ClientCliOptions } from './client.ts';

interface LogsOptions extends ClientCliOptions {
  since?: string;
  follow?: boolean;
  interval: number;
}

type Entry = AdminLogEntry | UserEventLogEntry;

/** A time option in any form the export takes (contract 11), as ISO 8601 UTC. */
function timeOption(name: string, text: string): string {
  try {
    return new Date(parseTime(name, text)).toISOString();
  } catch (error) {
    if (error instanceof ApiError) throw new CliError(`${name} must be an ISO 8601 time with an offset (e.g. 2026-01-31T00:00:00Z), not "${text}"`, EXIT.usage);
    throw error;
  }
}

/** One event a line on a terminal; every value came from the server and is shown escaped. */
function tableLine(e: Entry): string {
  const who = 'adminUserName' in e ? (e.adminUserName ?? '-') : e.userId;
  return [e.eventLogDate, e.activityKey.padEnd(28), e.result.padEnd(7), who, e.message].map((v) => printable(String(v))).join('  ');
}

/**
 * `logs admin|user`: the event log through the API, as a SIEM collector reads it: a window after
 * `--since` up to now, every page; with `--follow`, the next window after the last one's end,
 * every `--interval` seconds, until interrupted. JSON lines for a pipe, a table on a terminal.
 */
export function registerLogsCommand(program: Command): void {
  withClientOptions(
    program
      .command('logs')
      .description('read the administration or user event log through the API (JSON lines when piped)')
      .addArgument(new Argument('<log>', 'which log').choices(['admin', 'user']))
      .option('--since <time>', 'events after this time (ISO 8601 with an offset; default: an hour ago)')
      .option('--follow', 'keep polling for new events until interrupted')
      .option('--interval <seconds>', 'seconds between two polls with --follow', parseCount('--interval', 1, 86_400), 10),
  ).action(async (log: 'admin' | 'user', o: LogsOptions) => {
    const client: Ds100AdminClient = await clientFrom(o);
    const json = wantsJson(o);
    let since = o.since === undefined ? new Date(Date.now() - 3_600_000).toISOString() : timeOption('--since', o.since);
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    for (;;) {
      const until = new Date().toISOString();
      const window = { since, until };
      const events = log === 'admin' ? client.adminLog(window, { signal: stop.signal }) : client.userEventLog(window, { signal: stop.signal });
      try {
        for await (const e of events) process.stdout.write(`${json ? JSON.stringify(e) : tableLine(e)}\n`);
      } catch (error) {
        if (stop.signal.aborted) return;
        throw error;
      }
      since = until;
      if (!o.follow || stop.signal.aborted) return;
      await sleep(o.interval * 1000, undefined, { signal: stop.signal }).catch(() => {});
      if (stop.signal.aborted) return;
    }
  });
}
