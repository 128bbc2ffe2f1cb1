import type { ClockChange, ClockState } from './clock.ts';
import type { FaultInput, FaultRule } from './faults.ts';
import type { JournalEntry, JournalFilter } from './journal.ts';
import type { Seed, SeedResult } from './seed.ts';

/** A refusal of the control API: its status and the body's description. */
export class EmulatorControlError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`emulator control API answered ${status}: ${(body as { description?: string } | null)?.description ?? JSON.stringify(body)}`);
  }
}

/** A typed client of an emulator's control API (`/_emulator/`), over fetch. */
export class EmulatorControl {
  constructor(
    readonly controlUrl: string,
    readonly controlToken: string,
  ) {}

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.controlUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.controlToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : null;
    if (!res.ok) throw new EmulatorControlError(res.status, json);
    return json as T;
  }

  /** Back to the seeded state: records, clock, rate limits; faults and journal emptied. */
  reset = (): Promise<{ reset: true; tookMs: number }> => this.#call('POST', '/reset');
  /** Adds records until the next reset; answers their ids and the key files of its keys. */
  seed = (seed: Seed): Promise<SeedResult> => this.#call('POST', '/seed', seed);
  clock = (): Promise<ClockState> => this.#call('GET', '/clock');
  setClock = (change: ClockChange): Promise<ClockState> => this.#call('PUT', '/clock', change);
  faults = async (): Promise<FaultRule[]> => (await this.#call<{ faults: FaultRule[] }>('GET', '/faults')).faults;
  addFault = (rule: FaultInput): Promise<FaultRule> => this.#call('POST', '/faults', rule);
  removeFault = async (id: string): Promise<void> => void (await this.#call('DELETE', `/faults/${encodeURIComponent(id)}`));
  clearFaults = async (): Promise<void> => void (await this.#call('DELETE', '/faults'));
  requests = async (filter: JournalFilter = {}): Promise<JournalEntry[]> => {
    const query = new URLSearchParams(Object.entries(filter).map(([k, v]) => [k, String(v)])).toString();
    return (await this.#call<{ requests: JournalEntry[] }>('GET', `/requests${query ? `?${query}` : ''}`)).requests;
  };
  clearRequests = async (): Promise<void> => void (await this.#call('DELETE', '/requests'));
}
