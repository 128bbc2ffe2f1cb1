import { Type, type Static } from '@sinclair/typebox';
import { REST_BASE_PATH } from '../contract/limits.ts';
import { apiError } from '../errors.ts';
import { checked } from './seed.ts';

/** The statuses a fault may answer, each with the contract's own body for it. */
export const FAULT_STATUSES = [429, 500, 503, 504] as const;
export const FAULT_ERRORS = { 429: 'TOO_MANY_REQUESTS', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'GATEWAY_TIMEOUT' } as const;

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);

/**
 * A fault rule as a test writes it. It matches a request by method (any when left out), path
 * (exact, or a prefix when it ends in `*`; a path starting `/v1/` is under the REST base) and,
 * optionally, members of its JSON body; it then waits `latencyMs` and answers `status`, closes
 * the connection (`close`), or (latency alone) lets the real answer through late. It fires with
 * `probability` (default 1), at most `count` times (default: every time).
 */
export const FaultInput = Type.Object(
  {
    method: Type.Optional(Type.String({ minLength: 1 })),
    path: Type.String({ minLength: 1 }),
    body: Type.Optional(Type.Record(Type.String(), Scalar)),
    status: Type.Optional(Type.Union(FAULT_STATUSES.map((s) => Type.Literal(s)))),
    retryAfterSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
    latencyMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })),
    close: Type.Optional(Type.Boolean()),
    probability: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    count: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type FaultInput = Static<typeof FaultInput>;

/** A rule as listed: what was asked, its id, how often it fired and how many firings are left. */
export interface FaultRule extends FaultInput {
  id: string;
  hits: number;
  /** Firings left; null: no limit. */
  remaining: number | null;
}

export function checkFault(value: unknown): FaultInput {
  const input = checked('fault rule', FaultInput, value);
  if (input.status !== undefined && input.close) throw apiError('EMULATOR_INVALID', 'fault rule', '/close', 'cannot go with a status');
  if (input.status === undefined && !input.close && input.latencyMs === undefined) {
    throw apiError('EMULATOR_INVALID', 'fault rule', '(the whole value)', 'needs a status, close or latencyMs');
  }
  if (input.retryAfterSeconds !== undefined && input.status !== 429) {
    throw apiError('EMULATOR_INVALID', 'fault rule', '/retryAfterSeconds', 'goes with status 429 only');
  }
  return input;
}

/** A request path against a rule's or a filter's: exact, or a prefix when it ends in `*`; `/v1/...` is under the REST base. */
export function pathMatches(pattern: string, path: string): boolean {
  const full = pattern.startsWith('/v1/') ? `${REST_BASE_PATH}${pattern}` : pattern;
  return full.endsWith('*') ? path.startsWith(full.slice(0, -1)) : path === full;
}

/** The fault rules of one emulator, in the order they were added: the first that fires wins. */
export function makeFaults(random: () => number = Math.random) {
  let rules: FaultRule[] = [];
  let next = 0;
  const bodyMatches = (wanted: FaultInput['body'], body: unknown): boolean =>
    wanted === undefined ||
    (typeof body === 'object' && body !== null && Object.entries(wanted).every(([k, v]) => (body as Record<string, unknown>)[k] === v));
  return {
    add(input: FaultInput): FaultRule {
      const rule: FaultRule = { id: `fault-${++next}`, ...input, hits: 0, remaining: input.count ?? null };
      rules.push(rule);
      return rule;
    },
    list: (): FaultRule[] => rules.map((r) => ({ ...r })),
    remove(id: string): void {
      const before = rules.length;
      rules = rules.filter((r) => r.id !== id);
      if (rules.length === before) throw apiError('FAULT_NOT_FOUND', id);
    },
    clear(): void {
      rules = [];
    },
    /** The rule that fires for this request, counted as fired; undefined when none does. */
    fire(method: string, path: string, body: unknown): FaultRule | undefined {
      for (const rule of rules) {
        if (rule.remaining === 0) continue;
        if (rule.method !== undefined && rule.method.toUpperCase() !== method) continue;
        if (!pathMatches(rule.path, path) || !bodyMatches(rule.body, body)) continue;
        if ((rule.probability ?? 1) < 1 && random() >= (rule.probability ?? 1)) continue;
        rule.hits++;
        if (rule.remaining !== null) rule.remaining--;
        return rule;
      }
      return undefined;
    },
  };
}
export type Faults = ReturnType<typeof makeFaults>;
