import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CredentialService } from '../../domain/credentials.ts';
import { actorOf } from '../context.ts';
import { ClearPinBody, ClearPinResult, errorResponses } from '../../contract/schemas.ts';

/** Spec 4.4: answers a single object, not an array. */
const schema = {
  summary: 'Clear the PIN of an OTP credential',
  tags: ['DS100'],
  body: ClearPinBody,
  response: { 200: ClearPinResult, ...errorResponses },
};

export const clearPinRoute =
  (credentials: CredentialService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.patch('/v1/ds100/clearPin/otp', { schema, config: { operation: 'ds100.clearPin', kind: 'write' } }, async (request) => {
      const result = await credentials.clearPin(actorOf(request), request.body);
      request.audited = true;
      return result;
    });
  };
