/** Time as the domain sees it; tests pass a clock they move by hand. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** ISO 8601 UTC with milliseconds and `Z`, the wire's timestamp form. */
  nowIso(): string;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  nowIso: () => new Date().toISOString(),
};

/** A clock that stands still until `set` or `advance` moves it. */
export function manualClock(startMs: number): Clock & { set(ms: number): void; advance(ms: number): void } {
  let t = startMs;
  return {
    now: () => t,
    nowIso: () => new Date(t).toISOString(),
    set: (ms) => void (t = ms),
    advance: (ms) => void (t += ms),
  };
}
