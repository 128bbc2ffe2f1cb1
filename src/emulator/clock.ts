import type { Clock } from '../domain/clock.ts';

/** What `GET /_emulator/clock` answers: the emulated time, whether it stands still, and its distance from the real one. */
export interface ClockState {
  now: string;
  frozen: boolean;
  offsetSeconds: number;
}

/** One change of the emulated clock (`PUT /_emulator/clock`); the members given apply in this order. */
export interface ClockChange {
  /** Jump to this moment (ISO 8601); it runs on from there unless `frozen`. */
  now?: string;
  /** Run this many seconds ahead of (negative: behind) the real clock. */
  offsetSeconds?: number;
  /** Move the clock this many seconds, frozen or not. */
  advanceSeconds?: number;
  /** Stand still (true) or run on from the current emulated moment (false). */
  frozen?: boolean;
}

/**
 * The emulator's clock: the real one shifted by an offset, or frozen at a moment. The server
 * takes it as its `clock`, so token lifetimes, rate-limit refills and every timestamp follow it.
 */
export function makeEmulatorClock(real: () => number = Date.now): Clock & {
  change(change: ClockChange): void;
  state(): ClockState;
  reset(): void;
} {
  let offsetMs = 0;
  let frozenAt: number | null = null;
  const now = (): number => frozenAt ?? real() + offsetMs;
  const moveTo = (ms: number): void => {
    if (frozenAt === null) offsetMs = ms - real();
    else frozenAt = ms;
  };
  return {
    now,
    nowIso: () => new Date(now()).toISOString(),
    change({ now: at, offsetSeconds, advanceSeconds, frozen }) {
      if (at !== undefined) {
        if (frozen === true) frozenAt = Date.parse(at);
        else moveTo(Date.parse(at));
      }
      if (offsetSeconds !== undefined) {
        frozenAt = null;
        offsetMs = offsetSeconds * 1000;
      }
      if (advanceSeconds !== undefined) moveTo(now() + advanceSeconds * 1000);
      if (frozen === true && frozenAt === null) frozenAt = now();
      if (frozen === false && frozenAt !== null) {
        offsetMs = frozenAt - real();
        frozenAt = null;
      }
    },
    state: () => ({ now: new Date(now()).toISOString(), frozen: frozenAt !== null, offsetSeconds: (now() - real()) / 1000 }),
    reset() {
      offsetMs = 0;
      frozenAt = null;
    },
  };
}
