import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from './clock.ts';
import { RETENTION_MS } from './event-log.ts';
import type { Store } from './store.ts';

/** Events deleted by one transaction: each holds the write lock (SQLite) or its rows (PostgreSQL) only briefly. */
export const PRUNE_BATCH = 1000;
/** The pause between two batches, in which the server's own transactions take their turn. */
export const PRUNE_PAUSE_MS = 50;
/** How often `serve` prunes. */
export const PRUNE_INTERVAL_MS = 15 * 60_000;

export interface PruneOptions {
  store: Store;
  clock: Clock;
  batchSize?: number;
  pauseMs?: number;
}

/**
 * Deletes the events the trail keeps no longer (older than the admin log's 90 days; the user
 * event log's 40 are a bound of its query, contract 11), a batch per transaction with a pause
 * between, so no writer waits long and no client sees a pause. Returns how many it deleted.
 */
export async function pruneAuditTrail({ store, clock, batchSize = PRUNE_BATCH, pauseMs = PRUNE_PAUSE_MS }: PruneOptions): Promise<number> {
  const before = new Date(clock.now() - RETENTION_MS.admin).toISOString();
  let total = 0;
  for (;;) {
    const deleted = await store.transaction((tx) => tx.deleteAuditBefore(before, batchSize));
    total += deleted;
    if (deleted < batchSize) return total;
    await sleep(pauseMs);
  }
}

export interface PruningLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Prunes now and then every `intervalMs` until `stop`, which waits for a run under way. A run
 * that fails is logged and tried again at the next interval.
 */
export function startAuditPruning(options: PruneOptions & { intervalMs?: number; log: PruningLog }): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = (): void => {
    running = pruneAuditTrail(options).then(
      (deleted) => {
        if (deleted > 0) options.log.info({ deleted }, 'audit events past their retention deleted');
      },
      (error: unknown) => options.log.error({ err: { message: (error as Error).message } }, 'pruning the audit trail failed; trying again later'),
    );
    void running.then(() => {
      if (!stopped) timer = setTimeout(run, options.intervalMs ?? PRUNE_INTERVAL_MS).unref();
    });
  };
  timer = setTimeout(run, 0).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
