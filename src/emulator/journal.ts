import { pathMatches } from './faults.ts';

/** One request as the emulator's journal keeps it. The `Authorization` header is never kept, nor any other header. */
export interface JournalEntry {
  seq: number;
  /** When it arrived, by the emulated clock. */
  at: string;
  requestId: string;
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  /** The JSON body as parsed, or null (none, or not JSON). */
  body: unknown;
  /** Null when the connection was closed without an answer (a `close` fault). */
  status: number | null;
  /** The answer's JSON body, or null (empty, or the connection was closed). */
  answer: unknown;
  /** The fault rule that decided the answer, or null. */
  fault: string | null;
  /**
   * Who the token says the caller is: its `sub` (read without trusting it when the token was
   * refused) and, once the server verified it, the key's role. Null without a token.
   */
  caller: { accessId: string; role: string | null; verified: boolean } | null;
}

export interface JournalFilter {
  method?: string;
  path?: string;
  status?: number;
  fault?: string;
  accessId?: string;
  /** Entries after this `seq` only. */
  since?: number;
}

/** Entries kept; older ones are dropped first, so a long run cannot fill memory. */
export const JOURNAL_MAX = 10_000;

export function makeJournal(max = JOURNAL_MAX) {
  let entries: JournalEntry[] = [];
  let seq = 0;
  return {
    add(entry: Omit<JournalEntry, 'seq'>): void {
      entries.push({ seq: ++seq, ...entry });
      if (entries.length > max) entries = entries.slice(-max);
    },
    list(filter: JournalFilter = {}): JournalEntry[] {
      return entries.filter(
        (e) =>
          (filter.method === undefined || e.method === filter.method.toUpperCase()) &&
          (filter.path === undefined || pathMatches(filter.path, e.path)) &&
          (filter.status === undefined || e.status === filter.status) &&
          (filter.fault === undefined || e.fault === filter.fault) &&
          (filter.accessId === undefined || e.caller?.accessId === filter.accessId) &&
          (filter.since === undefined || e.seq > filter.since),
      );
    },
    clear(): void {
      entries = [];
    },
  };
}
export type Journal = ReturnType<typeof makeJournal>;
