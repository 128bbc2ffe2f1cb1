import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { adminState, type AdminService } from '../../auth/admins.ts';
import type { KeyService } from '../../auth/keys.ts';
import { oauthIssuer, type OAuthClientService } from '../../auth/oauth-clients.ts';
import type { Store } from '../../domain/store.ts';
import { OAUTH_ALGS, ROLES, SCOPES, type OAuthClient, type Role } from '../../domain/types.ts';
import { API_PATH, consoleActor, type ConsoleGuards } from './session.ts';

/** Administrators, API keys and OAuth clients are the tenant's keys to everything: SuperAdmin only. */
const SUPER = ['SuperAdmin'] as const satisfies readonly Role[];
const RoleName = Type.Union(ROLES.map((r) => Type.Literal(r)));
const ScopeName = Type.Union(SCOPES.map((s) => Type.Literal(s)));
const AlgName = Type.Union(OAUTH_ALGS.map((a) => Type.Literal(a)));

/** A client as the page lists it: never its key, not even the public half. */
const listed = (c: OAuthClient) => ({ clientId: c.clientId, description: c.description, scopes: c.scopes, alg: c.alg, kid: c.kid, createdAt: c.createdAt });

export interface AdminRouteDeps {
  guards: ConsoleGuards;
  store: Store;
  admins: AdminService;
  keys: () => KeyService;
  oauthClients: OAuthClientService;
  publicUrl: () => string;
}

/** The SuperAdmin pages' calls: administrators (invite, revoke), Administration API keys and OAuth clients. */
export function registerAdminRoutes(base: FastifyInstance, { guards, store, admins, keys, oauthClients, publicUrl }: AdminRouteDeps): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  app.get(`${API_PATH}/admins`, { onRequest: guards.signedIn({ roles: SUPER }) }, async () => ({
    admins: (await admins.list()).map((a) => ({ id: a.id, email: a.email, role: a.role, state: a.state, createdAt: a.createdAt, enrolledAt: a.enrolledAt, revokedAt: a.revokedAt, passkeys: a.passkeys })),
  }));
  app.post(
    `${API_PATH}/admins/invite`,
    {
      onRequest: guards.signedIn({ roles: SUPER, audit: 'admin.invite' }),
      schema: { body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 254 }), role: RoleName }, { additionalProperties: false }) },
    },
    async (request) => {
      const { admin, link, expiresAt } = await admins.invite(consoleActor(request), request.body);
      return { admin: { id: admin.id, email: admin.email, role: admin.role, state: adminState(admin) }, link, expiresAt };
    },
  );
  app.post(
    `${API_PATH}/admins/revoke`,
    {
      onRequest: guards.signedIn({ roles: SUPER, audit: 'admin.revoke' }),
      schema: { body: Type.Object({ adminId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }) },
    },
    async (request) => {
      const admin = await admins.revoke(consoleActor(request), request.body.adminId);
      return { admin: { id: admin.id, email: admin.email, role: admin.role, state: adminState(admin) } };
    },
  );

  app.get(`${API_PATH}/keys`, { onRequest: guards.signedIn({ roles: SUPER }) }, async () => ({
    keys: (await store.apiKeys()).map(({ publicKeyPem: _, ...k }) => k),
  }));
  app.post(
    `${API_PATH}/keys/create`,
    {
      onRequest: guards.signedIn({ roles: SUPER, audit: 'apikey.create' }),
      schema: { body: Type.Object({ role: RoleName, description: Type.String({ maxLength: 200 }) }, { additionalProperties: false }) },
    },
    // The key file, private key and all, goes to this answer only: it is never stored, nor cached.
    async (request, reply) => {
      const { key, keyFile } = await keys().create(consoleActor(request), request.body.role, request.body.description.trim() || null);
      reply.header('Cache-Control', 'no-store');
      return { key: { accessId: key.accessId, role: key.role, description: key.description, createdAt: key.createdAt }, keyFile };
    },
  );
  app.post(
    `${API_PATH}/keys/delete`,
    {
      onRequest: guards.signedIn({ roles: SUPER, audit: 'apikey.delete' }),
      schema: { body: Type.Object({ accessId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }) },
    },
    async (request) => {
      await keys().delete(consoleActor(request), request.body.accessId);
      return { deleted: request.body.accessId };
    },
  );

  // The service `oauth-clients create|delete` uses: the same checks, the same audit events.
  app.get(`${API_PATH}/oauth-clients`, { onRequest: guards.signedIn({ roles: SUPER }) }, async () => ({
    clients: (await oauthClients.list()).map(listed),
    scopes: SCOPES,
    algs: OAUTH_ALGS,
    issuer: oauthIssuer(publicUrl()),
  }));
  app.post(
    `${API_PATH}/oauth-clients/create`,
    {
      onRequest: guards.signedIn({ roles: SUPER, audit: 'oauthclient.create' }),
      schema: {
        body: Type.Object(
          {
            scopes: Type.Array(ScopeName, { minItems: 1, maxItems: SCOPES.length, uniqueItems: true }),
            alg: AlgName,
            description: Type.String({ maxLength: 200 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    // The private JWK goes to this answer only (not cached either): the server keeps the public half.
    async (request, reply) => {
      const { scopes, alg, description } = request.body;
      const { client, privateJwk } = await oauthClients.create(consoleActor(request), { scopes, alg, description: description.trim() || null });
      reply.header('Cache-Control', 'no-store');
      return { client: listed(client), privateJwk, issuer: oauthIssuer(publicUrl()) };
    },
  );
  app.post(
    `${API_PATH}/oauth-clients/delete`,
    {
      onRequest: guards.signedIn({ roles: SUPER, audit: 'oauthclient.delete' }),
      schema: { body: Type.Object({ clientId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }) },
    },
    async (request) => {
      await oauthClients.delete(consoleActor(request), request.body.clientId);
      return { deleted: request.body.clientId };
    },
  );
}
