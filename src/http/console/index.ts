import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asAdministrator, CeremonyRefused, csrfTokenOf, makeAdminService, SESSION_IDLE_MS } from '../../auth/admins.ts';
import { makeKeyService } from '../../auth/keys.ts';
import { makeOAuthClientService } from '../../auth/oauth-clients.ts';
import { auditEvent } from '../../domain/audit.ts';
import type { Clock } from '../../domain/clock.ts';
import type { CredentialService } from '../../domain/credentials.ts';
import type { DirectoryService } from '../../domain/directory.ts';
import type { Store } from '../../domain/store.ts';
import type { RateLimiter } from '../../ratelimit/limiter.ts';
import { sendError } from '../plugins/errors.ts';
import { registerActivityRoute } from './activity.ts';
import { registerAdminRoutes } from './admins.ts';
import { registerAssets, securityHeaders } from './assets.ts';
import { registerDirectoryRoutes } from './directory.ts';
import {
  API_PATH, DEFAULT_SIGNIN_LIMITS, consoleActor, consoleGuards, sessionCookie, withinLimit, type SignInLimits,
} from './session.ts';

export { BUILT_ASSETS } from './assets.ts';
export { DEFAULT_SIGNIN_LIMITS, type SignInLimits } from './session.ts';

export interface ConsoleOptions {
  store: Store;
  clock: Clock;
  publicUrl: () => string;
  limiter: RateLimiter;
  credentials: CredentialService;
  directory: DirectoryService;
  /** The built bundle's folder (default: the package's dist/console). */
  assets: string;
  signInLimits?: SignInLimits;
}

/** A WebAuthn credential as the browser serializes it: checked in depth by the WebAuthn library. */
const Credential = Type.Object({ id: Type.String({ maxLength: 1024 }) }, { additionalProperties: true });

/**
 * The console at `{publicUrl}/console/`: its page and bundle, and its own JSON calls under
 * `/console/api/`, authenticated by a session cookie (not part of the vendor contract). Every
 * change goes through the domain services the API uses, with the administrator as the actor, so
 * rules, locks and audit events are the same.
 */
export function installConsole(app: FastifyInstance, options: ConsoleOptions): void {
  const { store, clock, publicUrl, limiter } = options;
  const limits = options.signInLimits ?? DEFAULT_SIGNIN_LIMITS;
  const admins = makeAdminService({ store, clock, publicUrl });
  const keys = () => makeKeyService({ store, clock, publicUrl: publicUrl() });
  const cookie = sessionCookie(publicUrl);
  const guards = consoleGuards({ admins, cookie, publicUrl, store, clock });

  app.decorateRequest('consoleAdmin', null);
  void app.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    scope.addHook('onRequest', async (_request, reply) => void securityHeaders(reply));
    registerAssets(scope, options.assets);

    /** A refused ceremony's reason goes to the log; its client hears the catalog's words. */
    const refused = (request: FastifyRequest, reply: FastifyReply, error: unknown) => {
      if (!(error instanceof CeremonyRefused)) throw error;
      request.log.info({ reason: error.reason }, 'console WebAuthn ceremony refused');
      return sendError(request, reply, error.error);
    };
    const addressLimit = async (request: FastifyRequest, reply: FastifyReply, operation: string): Promise<boolean> => {
      if (await withinLimit(limiter, `console-addr:${request.ip}`, limits.perAddress, request, reply)) return true;
      store.recordAudit(auditEvent(consoleActor(request), clock.nowIso(), operation, {}, 'rate_limited', 429));
      return false;
    };
    const signedIn = (reply: FastifyReply, admin: { id: string; email: string; role: string }, sessionId: string) => {
      cookie.set(reply, sessionId);
      return { admin: { id: admin.id, email: admin.email, role: admin.role }, csrfToken: csrfTokenOf(sessionId) };
    };

    scope.post(
      `${API_PATH}/enrol/options`,
      { onRequest: guards.sameOrigin, schema: { body: Type.Object({ token: Type.String({ maxLength: 64 }) }, { additionalProperties: false }) } },
      async (request, reply) => {
        if (!(await addressLimit(request, reply, 'admin.enrol'))) return reply;
        const { admin, options: publicKey } = await admins.enrolmentOptions(request.body.token);
        return { email: admin.email, role: admin.role, publicKey };
      },
    );
    scope.post(
      `${API_PATH}/enrol`,
      {
        onRequest: guards.sameOrigin,
        schema: { body: Type.Object({ token: Type.String({ maxLength: 64 }), credential: Credential }, { additionalProperties: false }) },
      },
      async (request, reply) => {
        if (!(await addressLimit(request, reply, 'admin.enrol'))) return reply;
        try {
          const { admin, sessionId } = await admins.enrol(consoleActor(request), request.body.token, request.body.credential, cookie.read(request));
          return signedIn(reply, admin, sessionId);
        } catch (error) {
          return refused(request, reply, error);
        }
      },
    );
    scope.post(
      `${API_PATH}/signin/options`,
      { onRequest: guards.sameOrigin, schema: { body: Type.Object({ email: Type.Optional(Type.String({ maxLength: 254 })) }, { additionalProperties: false }) } },
      async (request, reply) => {
        if (!(await addressLimit(request, reply, 'console.signin'))) return reply;
        return { publicKey: await admins.signInOptions(request.body.email || undefined) };
      },
    );
    scope.post(
      `${API_PATH}/signin`,
      { onRequest: guards.sameOrigin, schema: { body: Type.Object({ credential: Credential }, { additionalProperties: false }) } },
      async (request, reply) => {
        if (!(await addressLimit(request, reply, 'console.signin'))) return reply;
        const { credential } = request.body;
        const owner = await admins.ownerOf(credential.id);
        // Per account: the administrator the credential is theirs, else the credential id itself.
        if (!(await withinLimit(limiter, `console-account:${owner ?? credential.id}`, limits.perAccount, request, reply))) {
          // Named as the administrator the credential belongs to, as a failed sign-in is (AdminService.signIn).
          const admin = owner ? await store.adminById(owner) : null;
          const actor = admin ? asAdministrator(consoleActor(request), admin) : consoleActor(request);
          store.recordAudit(auditEvent(actor, clock.nowIso(), 'console.signin', owner ? { adminId: owner } : {}, 'rate_limited', 429));
          return reply;
        }
        try {
          const { admin, sessionId } = await admins.signIn(consoleActor(request), credential, cookie.read(request));
          return signedIn(reply, admin, sessionId);
        } catch (error) {
          return refused(request, reply, error);
        }
      },
    );
    scope.post(`${API_PATH}/signout`, { onRequest: guards.signedIn() }, async (request, reply) => {
      await admins.signOut(consoleActor(request), cookie.read(request)!);
      cookie.clear(reply);
      return { signedOut: true };
    });
    scope.get(`${API_PATH}/session`, { onRequest: guards.signedIn() }, async (request) => {
      const admin = request.consoleAdmin!;
      return {
        admin: { id: admin.id, email: admin.email, role: admin.role },
        csrfToken: csrfTokenOf(cookie.read(request)!),
        idleSeconds: SESSION_IDLE_MS / 1000,
      };
    });

    registerDirectoryRoutes(scope, { guards, store, clock, credentials: options.credentials, directory: options.directory });
    registerActivityRoute(scope, { guards, store });
    registerAdminRoutes(scope, { guards, store, admins, keys, oauthClients: makeOAuthClientService({ store, clock }), publicUrl });
  });
}
