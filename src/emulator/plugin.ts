import { timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { apiError } from '../errors.ts';
import { sendError } from '../http/plugins/errors.ts';
import type { RatePolicy } from '../ratelimit/limiter.ts';
import type { ClockChange, ClockState } from './clock.ts';
import { FAULT_ERRORS, checkFault, type FaultRule, type Faults } from './faults.ts';
import type { Journal, JournalEntry, JournalFilter } from './journal.ts';
import { checkSeed, checked, type Seed, type SeedResult } from './seed.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The emulator's fault rule that decided this answer, if any. */
    emulatorFault: string | null;
    /** The answer as sent, for the emulator's journal. */
    emulatorAnswer: unknown;
  }
}

/** Where every route of the control API lives; nothing answers under it but in `emulate`. */
export const CONTROL_PREFIX = '/_emulator';

/** What the control API drives: the emulator's state, outside the HTTP layer. */
export interface EmulatorState {
  controlToken: string;
  faults: Faults;
  journal: Journal;
  /** The per-key bucket, whose size a 429 fault reports in its `RateLimit-*` headers as a real one does. */
  perKey: RatePolicy;
  clock: { change(change: ClockChange): void; state(): ClockState; nowIso(): string };
  reset(): Promise<void>;
  seed(seed: Seed): Promise<SeedResult>;
}

const ClockBody = Type.Object(
  {
    now: Type.Optional(Type.String({ format: 'date-time' })),
    frozen: Type.Optional(Type.Boolean()),
    offsetSeconds: Type.Optional(Type.Number({ minimum: -1e10, maximum: 1e10 })),
    advanceSeconds: Type.Optional(Type.Number({ minimum: -1e10, maximum: 1e10 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

const JournalQuery = Type.Object(
  {
    method: Type.Optional(Type.String()),
    path: Type.Optional(Type.String()),
    status: Type.Optional(Type.String({ pattern: '^[0-9]{3}$' })),
    fault: Type.Optional(Type.String()),
    accessId: Type.Optional(Type.String()),
    since: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
  },
  { additionalProperties: false },
);

const isControl = (url: string): boolean => url === CONTROL_PREFIX || url.startsWith(`${CONTROL_PREFIX}/`) || url.startsWith(`${CONTROL_PREFIX}?`);
const pathOf = (url: string): string => url.split('?', 1)[0] ?? url;

/** A JSON text as its value; anything else (empty, not JSON, a stream) as null. */
function jsonOf(payload: unknown): unknown {
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** The `sub` a bearer token names, read without checking it: what the journal says a refused caller claimed to be. */
function claimedSubject(authorization: string | undefined): string | null {
  const payload = /^Bearer +[^.\s]+\.([^.\s]+)\.\S*$/i.exec(authorization ?? '')?.[1];
  if (!payload) return null;
  try {
    const sub = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub.slice(0, 200) : null;
  } catch {
    return null;
  }
}

function callerOf(request: FastifyRequest): JournalEntry['caller'] {
  if (request.principal) return { accessId: request.principal.subject, role: request.principal.role, verified: true };
  const sub = claimedSubject(request.headers.authorization);
  return sub === null ? null : { accessId: sub, role: null, verified: false };
}

/**
 * The HTTP side of `ds100-admin emulate`, installed on an app `buildApp` made, by the emulator
 * only (`serve` never installs it): faults and the journal on every request outside the control
 * API, and the control API itself under `/_emulator/`, behind the control token. A fault answers
 * in the contract's own shapes (the same catalog error, the same headers as the real refusal),
 * after the guard let the call through, so a client cannot tell it from the real thing.
 */
export function installEmulator(app: FastifyInstance, state: EmulatorState): void {
  const { faults, journal } = state;
  const expected = Buffer.from(`Bearer ${state.controlToken}`);
  app.decorateRequest('emulatorFault', null);
  app.decorateRequest('emulatorAnswer', null);

  const record = (request: FastifyRequest, status: number | null, answer: unknown): void =>
    journal.add({
      at: state.clock.nowIso(),
      requestId: request.id,
      method: request.method,
      path: pathOf(request.url),
      query: { ...(request.query as Record<string, string | string[]>) },
      body: request.body === undefined ? null : request.body,
      status,
      answer,
      fault: request.emulatorFault,
      caller: callerOf(request),
    });

  app.addHook('preValidation', async (request, reply) => {
    if (isControl(request.url)) return;
    const rule = faults.fire(request.method, pathOf(request.url), request.body);
    if (!rule) return;
    request.emulatorFault = rule.id;
    if (rule.latencyMs) await sleep(rule.latencyMs);
    if (rule.close) {
      record(request, null, null);
      reply.hijack();
      request.raw.socket.destroy();
      return reply;
    }
    if (rule.status === undefined) return;
    if (rule.status === 429) {
      const retryAfter = rule.retryAfterSeconds ?? 1;
      reply.header('RateLimit-Limit', state.perKey.capacity);
      reply.header('RateLimit-Remaining', 0);
      reply.header('RateLimit-Reset', Math.max(retryAfter, state.perKey.windowSeconds));
      reply.header('Retry-After', retryAfter);
    }
    return sendError(request, reply, apiError(FAULT_ERRORS[rule.status]));
  });
  app.addHook('onSend', (request, _reply, payload, done) => {
    if (!isControl(request.url)) request.emulatorAnswer = payload;
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (!isControl(request.url)) record(request, reply.statusCode, jsonOf(request.emulatorAnswer));
    done();
  });

  void app.register(
    async (control) => {
      control.addHook('onRequest', async (request, reply) => {
        const given = Buffer.from(request.headers.authorization ?? '');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) return sendError(request, reply, apiError('CONTROL_TOKEN_REQUIRED'));
      });
      const ok = (reply: FastifyReply, value: unknown) => reply.code(200).send(value);

      control.post('/reset', async (_request, reply) => {
        const started = performance.now();
        await state.reset();
        return ok(reply, { reset: true, tookMs: Math.round((performance.now() - started) * 10) / 10 });
      });
      control.post('/seed', async (request, reply) => ok(reply, await state.seed(checkSeed(request.body))));
      control.get('/clock', async (_request, reply) => ok(reply, state.clock.state()));
      control.put('/clock', async (request, reply) => {
        const change = checked('clock change', ClockBody, request.body);
        state.clock.change(change);
        return ok(reply, state.clock.state());
      });
      control.get('/faults', async (_request, reply) => ok(reply, { faults: faults.list() }));
      control.post('/faults', async (request, reply) => reply.code(201).send(faults.add(checkFault(request.body)) satisfies FaultRule));
      control.delete('/faults', async (_request, reply) => {
        faults.clear();
        return ok(reply, { faults: [] });
      });
      control.delete<{ Params: { id: string } }>('/faults/:id', async (request, reply) => {
        faults.remove(request.params.id);
        return ok(reply, { faults: faults.list() });
      });
      control.get('/requests', async (request, reply) => {
        const q = checked('journal filter', JournalQuery, { ...(request.query as object) });
        const filter: JournalFilter = {
          ...(q.method !== undefined ? { method: q.method } : {}),
          ...(q.path !== undefined ? { path: q.path } : {}),
          ...(q.status !== undefined ? { status: Number(q.status) } : {}),
          ...(q.fault !== undefined ? { fault: q.fault } : {}),
          ...(q.accessId !== undefined ? { accessId: q.accessId } : {}),
          ...(q.since !== undefined ? { since: Number(q.since) } : {}),
        };
        return ok(reply, { requests: journal.list(filter) });
      });
      control.delete('/requests', async (_request, reply) => {
        journal.clear();
        return ok(reply, { requests: [] });
      });
    },
    { prefix: CONTROL_PREFIX },
  );
}
