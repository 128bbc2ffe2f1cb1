import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CredentialService } from '../../domain/credentials.ts';
import { actorOf } from '../context.ts';
import { DeleteBody, errorResponses } from '../../contract/schemas.ts';

/** Spec 4.3: a DELETE with a JSON body; 200 with an empty body ("Not Applicable"). */
const schema = {
  summary: "Delete the OTP credential of a user's DS100",
  tags: ['DS100'],
  body: DeleteBody,
  response: { 200: { description: 'Deleted; the body is empty', type: 'null' }, ...errorResponses },
};

export const deleteOtpRoute =
  (credentials: CredentialService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.delete('/v1/ds100/delete/otp', { schema, config: { operation: 'ds100.delete', kind: 'write' } }, async (request, reply) => {
      await credentials.delete(actorOf(request), request.body);
      request.audited = true;
      return reply.code(200).send();
    });
  };
