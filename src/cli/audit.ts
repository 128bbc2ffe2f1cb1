import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { subjectColumn } from '../domain/audit.ts';
import { printable, printableJson } from '../domain/printable.ts';
import { trailFilter, trailPages, type TrailFilter } from '../domain/trail.ts';
import type { StoredAuditEvent } from '../domain/types.ts';
import { activityChoice } from '../domain/activity.ts';
import { CliError, EXIT, parseCount, usingStore, withDataOptions, type DataOptions } from './common.ts';

/**
 * One event a line: every value in it may come from a request, so each is shown escaped. The
 * caller is written as the trail keeps it, so its kind shows: `oauth:<clientId>` for an OAuth
 * client, `cli:<user>` for the command line, `-` for an unauthenticated caller (`--json` gives `kind`).
 */
function tableLine(e: StoredAuditEvent): string {
  const target = Object.entries(e.target).map(([k, v]) => `${printable(k)}=${printable(String(v))}`).join(' ');
  const cells = [e.at, e.operation.padEnd(15), e.outcome.padEnd(12), String(e.status), subjectColumn(e) ?? '-', e.clientAddress ?? '-'];
  return [...cells.map(printable), target].join('  ');
}

/**
 * Writes the trail to `out` page by page as it is read, one event a line, waiting for `out` to
 * drain between pages: the trail may be far larger than memory. A reader that goes away early
 * (`audit | head`) ends the printing, not in an error.
 */
export async function printAuditTrail(pages: AsyncIterable<StoredAuditEvent[]>, json: boolean, out: Writable): Promise<void> {
  let failure: NodeJS.ErrnoException | undefined;
  // Left listening afterwards: the last write's error may come after the last page.
  out.on('error', (error: NodeJS.ErrnoException) => (failure ??= error));
  for await (const page of pages) {
    if (failure) break;
    const text = `${page.map((e) => (json ? printableJson(JSON.stringify(e)) : tableLine(e))).join('\n')}\n`;
    // An error rejects the wait; the listener above has kept it.
    if (!out.write(text)) await once(out, 'drain').catch(() => {});
  }
  if (failure && failure.code !== 'EPIPE') throw failure;
}

/** `audit`: reads the audit trail, through the trail's one query (`domain/trail.ts`), as the console's activity page does. */
export function registerAuditCommand(program: Command): void {
  withDataOptions(
    program
      .command('audit')
      .description('print the audit trail, oldest first (the admin log and the exports\' own events)')
      .option('--since <iso>', 'only events at or after this time (ISO 8601, e.g. 2026-01-31T00:00:00Z)')
      .option('--limit <n>', 'at most this many events', parseCount('--limit', 1, 10_000_000))
      .option('--user <id-or-email>', "only events whose target is this user (by id or e-mail address)")
      .option('--admin <who>', "only events of this subject: an administrator's e-mail address or id, an API key's access id, an OAuth client's id, cli:<name>")
      .option('--activity <key>', 'only events of this admin log activity key (e.g. DS100_OTP_DISABLE_SUCCESS, SIGNIN_FAILURE)')
      .option('--json', 'one JSON object per line'),
  ).action(async (o: DataOptions & { since?: string; limit?: number; json?: boolean; user?: string; admin?: string; activity?: string }) => {
    let since: string | undefined;
    if (o.since !== undefined) {
      const t = Date.parse(o.since);
      if (!/^\d{4}-\d{2}-\d{2}/.test(o.since) || Number.isNaN(t)) throw new CliError(`--since must be an ISO 8601 time, not "${o.since}"`, EXIT.usage);
      since = new Date(t).toISOString();
    }
    const query = { ...(since ? { since } : {}), ...(o.limit ? { limit: o.limit } : {}) };
    const typed: TrailFilter = {
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o.admin !== undefined ? { admin: o.admin } : {}),
      ...(o.activity !== undefined ? { activity: o.activity } : {}),
    };
    if (o.activity !== undefined && !activityChoice(o.activity)) {
      throw new CliError(`--activity must be an activity key of the admin log (e.g. DS100_OTP_DISABLE_SUCCESS), not "${o.activity}"`, EXIT.usage);
    }
    await usingStore(o, async (store) =>
      printAuditTrail(trailPages(store, await trailFilter(store, typed, { adminLog: false }), query), o.json ?? false, process.stdout),
    );
  });
}
