import type { Command } from 'commander';
import { CliError, EXIT, parseCount, usingStore, withDataOptions, type DataOptions } from './common.ts';

/** `audit`: reads the audit trail. */
export function registerAuditCommand(program: Command): void {
  withDataOptions(
    program
      .command('audit')
      .description('print the audit trail, oldest first')
      .option('--since <iso>', 'only events at or after this time (ISO 8601, e.g. 2026-01-31T00:00:00Z)')
      .option('--limit <n>', 'at most this many events', parseCount('--limit', 1, 10_000_000))
      .option('--json', 'one JSON object per line'),
  ).action(async (o: DataOptions & { since?: string; limit?: number; json?: boolean }) => {
    let since: string | undefined;
    if (o.since !== undefined) {
      const t = Date.parse(o.since);
      if (!/^\d{4}-\d{2}-\d{2}/.test(o.since) || Number.isNaN(t)) throw new CliError(`--since must be an ISO 8601 time, not "${o.since}"`, EXIT.usage);
      since = new Date(t).toISOString();
    }
    const events = await usingStore(o, (store) => store.audit({ ...(since ? { since } : {}), ...(o.limit ? { limit: o.limit } : {}) }));
    for (const e of events) {
      if (o.json) {
        console.log(JSON.stringify(e));
        continue;
      }
      const target = Object.entries(e.target).map(([k, v]) => `${k}=${v}`).join(' ');
      console.log([e.at, e.operation.padEnd(15), e.outcome.padEnd(12), String(e.status), e.subject ?? '-', e.clientAddress ?? '-', target].join('  '));
    }
  });
}
