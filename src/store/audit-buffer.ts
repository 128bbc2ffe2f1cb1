import type { AuditEvent } from '../domain/types.ts';

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Audit events kept while they cannot be written (a full disk, a database away); older ones are dropped. */
export const MAX_PENDING_AUDIT = 10_000;

/**
 * The audit events of calls that changed nothing (`Store.recordAudit`), waiting for their engine
 * to write them: SQLite with its next group commit, PostgreSQL in multi-row INSERTs off the
 * answer's path. The same for both: a writer takes the oldest events (`take`), and says whether
 * they went in (`written`) or not (`failed`, and they stay, first in line); while nothing can be
 * written, the buffer keeps the newest `max` and drops the oldest, once reported to `onDrop`;
 * `flush` waits until everything recorded so far is written.
 */
export class AuditBuffer {
  readonly #max: number;
  readonly #onDrop: (dropped: number) => void;
  #events: AuditEvent[] = [];
  /** The oldest this many events are being written: they are neither dropped nor taken again. */
  #taken = 0;
  #recorded = 0;
  /** Events written or dropped: every event up to this count is settled. */
  #settled = 0;
  #waiters: Waiter[] = [];

  constructor({ max = MAX_PENDING_AUDIT, onDrop = () => {} }: { max?: number; onDrop?: (dropped: number) => void } = {}) {
    this.#max = max;
    this.#onDrop = onDrop;
  }

  /** Events waiting, those being written included. */
  get size(): number {
    return this.#events.length;
  }

  /** True while every event recorded is written. */
  get empty(): boolean {
    return this.#events.length === 0;
  }

  push(event: AuditEvent): number {
    this.#events.push(event);
    this.#recorded++;
    this.#dropOverflow();
    return this.#events.length;
  }

  /** The oldest events (at most `max`), to write now; none while a write is under way. */
  take(max = Infinity): AuditEvent[] {
    if (this.#taken > 0) return [];
    const batch = max >= this.#events.length ? this.#events.slice() : this.#events.slice(0, max);
    this.#taken = batch.length;
    return batch;
  }

  /** The events `take` gave are written. */
  written(): void {
    const n = this.#taken;
    this.#taken = 0;
    this.#events.splice(0, n);
    this.#settle(n);
  }

  /** The events `take` gave could not be written: they stay first in line, and flushes waiting for them fail. */
  failed(error: unknown): void {
    this.#taken = 0;
    this.#dropOverflow();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (w.upTo <= this.#settled) w.resolve();
      else w.reject(error);
    }
  }

  /** Resolves once every event recorded so far is written (or dropped); rejects if a write of them fails first. */
  flush(): Promise<void> {
    if (this.#settled >= this.#recorded) return Promise.resolve();
    const upTo = this.#recorded;
    return new Promise<void>((resolve, reject) => this.#waiters.push({ upTo, resolve, reject }));
  }

  #settle(n: number): void {
    this.#settled += n;
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.upTo <= this.#settled) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  #dropOverflow(): void {
    const excess = this.#events.length - this.#max;
    if (excess <= 0 || this.#taken > 0) return;
    this.#events.splice(0, excess);
    this.#onDrop(excess);
    this.#settle(excess);
  }
}
