import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { SESSION_ABSOLUTE_MS, consoleBase, csrfTokenOf, type AdminService } from '../../auth/admins.ts';
import type { Store } from '../../domain/store.ts';
import type { Actor, Admin, Role } from '../../domain/types.ts';
import { apiError } from '../../errors.ts';
import type { RateLimiter, RatePolicy } from '../../ratelimit/limiter.ts';
import { auditEvent } from '../../domain/audit.ts';
import type { Clock } from '../../domain/clock.ts';
import { sendError } from '../plugins/errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in administrator of a console call, set by its guard. */
    consoleAdmin: Admin | null;
  }
}

export const CONSOLE_PATH = '/console';
/** The console's own JSON calls. */
export const API_PATH = `${CONSOLE_PATH}/api`;
export const CSRF_HEADER = 'x-csrf-token';

/** The cookie's name and attributes: `__Host-` (Secure, no Domain, Path=/) when the console is served over TLS. */
export function sessionCookie(publicUrl: () => string) {
  const secure = (): boolean => publicUrl().startsWith('https:');
  const name = (): string => (secure() ? '__Host-ds100_console' : 'ds100_console');
  const attributes = (maxAgeSeconds: number): string =>
    `Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure() ? '; Secure' : ''}`;
  return {
    /** The session id the request's cookie holds, if any. */
    read(request: FastifyRequest): string | undefined {
      const header = request.headers.cookie;
      if (!header) return undefined;
      const wanted = name();
      for (const part of header.split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0 && part.slice(0, eq).trim() === wanted) return part.slice(eq + 1).trim();
      }
      return undefined;
    },
    set: (reply: FastifyReply, sessionId: string): void =>
      void reply.header('Set-Cookie', `${name()}=${sessionId}; ${attributes(Math.floor(SESSION_ABSOLUTE_MS / 1000))}`),
    clear: (reply: FastifyReply): void => void reply.header('Set-Cookie', `${name()}=; ${attributes(0)}`),
  };
}
export type SessionCookie = ReturnType<typeof sessionCookie>;

const sameText = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The console's view of who is calling, for the audit trail and the domain services. */
export function consoleActor(request: FastifyRequest): Actor {
  return {
    kind: request.consoleAdmin ? 'administrator' : 'unauthenticated',
    subject: request.consoleAdmin?.id ?? null,
    role: request.consoleAdmin?.role ?? null,
    clientAddress: request.ip,
    requestId: request.id,
  };
}

export interface GuardDeps {
  admins: AdminService;
  cookie: SessionCookie;
  publicUrl: () => string;
  store: Store;
  clock: Clock;
}

export interface ConsoleGuards {
  /** Refuses a state-changing request whose Origin is not the console's own. */
  sameOrigin: onRequestHookHandler;
  /**
   * A signed-in administrator of one of `roles` (default: any), and for a request that changes
   * something the console's Origin and the session's CSRF token too. `audit` names the operation
   * whose refused attempt (a forged request from a role that may not) goes to the trail.
   */
  signedIn(options?: { roles?: readonly Role[]; audit?: string }): onRequestHookHandler;
}

export function consoleGuards({ admins, cookie, publicUrl, store, clock }: GuardDeps): ConsoleGuards {
  const changes = (request: FastifyRequest): boolean => request.method !== 'GET' && request.method !== 'HEAD';
  const originRefused = (request: FastifyRequest): boolean => {
    // A browser sends Origin with every fetch that is not a GET; a request without one is no
    // console page's. SameSite=Strict already keeps the cookie off foreign requests: this holds
    // when it does not (an old browser, a sibling subdomain).
    const origin = request.headers.origin;
    return typeof origin !== 'string' || origin !== new URL(consoleBase(publicUrl())).origin;
  };

  const sameOrigin: onRequestHookHandler = async (request, reply) => {
    if (changes(request) && originRefused(request)) return sendError(request, reply, apiError('CONSOLE_ORIGIN'));
  };

  return {
    sameOrigin,
    signedIn: ({ roles, audit } = {}) =>
      async (request, reply) => {
        if (changes(request) && originRefused(request)) return sendError(request, reply, apiError('CONSOLE_ORIGIN'));
        const sessionId = cookie.read(request);
        const open = await admins.session(sessionId);
        if (!open) {
          if (sessionId !== undefined) cookie.clear(reply);
          return sendError(request, reply, apiError('CONSOLE_SIGNIN_REQUIRED'));
        }
        request.consoleAdmin = open.admin;
        if (changes(request)) {
          const token = request.headers[CSRF_HEADER];
          if (typeof token !== 'string' || !sameText(token, csrfTokenOf(sessionId!))) return sendError(request, reply, apiError('CONSOLE_CSRF'));
        }
        if (roles && !roles.includes(open.admin.role)) {
          request.log.info({ admin: open.admin.id, role: open.admin.role, url: request.url }, 'console role may not do this');
          if (audit) store.recordAudit(auditEvent(consoleActor(request), clock.nowIso(), audit, {}, 'denied', 403));
          return sendError(request, reply, apiError('CONSOLE_NOT_ALLOWED', open.admin.role));
        }
      },
  };
}

/** The per-address and per-account limits of sign-in attempts. */
export interface SignInLimits {
  perAddress: RatePolicy;
  perAccount: RatePolicy;
}

export const DEFAULT_SIGNIN_LIMITS: SignInLimits = {
  perAddress: { capacity: 30, windowSeconds: 60 },
  perAccount: { capacity: 10, windowSeconds: 300 },
};

/** Takes one attempt from `bucket`; refuses the request (429, Retry-After) when none is left. */
export async function withinLimit(limiter: RateLimiter, bucket: string, policy: RatePolicy, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const decision = await limiter.take(bucket, policy);
  if (decision.allowed) return true;
  reply.header('Retry-After', decision.retryAfterSeconds);
  await sendError(request, reply, apiError('TOO_MANY_REQUESTS'));
  return false;
}
