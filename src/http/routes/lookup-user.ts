import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DirectoryService } from '../../domain/directory.ts';
import { UserLookupBody, UserRecord, errorResponses } from '../../contract/schemas.ts';

/** Spec 5: turns an e-mail address into the user (and id) that the DS100 endpoints take. */
const schema = {
  summary: 'Look up a user by e-mail address',
  tags: ['Users'],
  body: UserLookupBody,
  response: { 200: UserRecord, ...errorResponses },
};

export const lookupUserRoute =
  (directory: DirectoryService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post('/v1/users/lookup', { schema, config: { operation: 'users.lookup', kind: 'read' } }, (request) =>
      directory.lookupUser(request.body.email),
    );
  };
