import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CredentialService } from '../../domain/credentials.ts';
import { CredentialRecords, LookupBody, errorResponses } from '../../contract/schemas.ts';

/** Spec 4.5: every OTP credential of a device, as full records in the documented order. */
const schema = {
  summary: 'Retrieve the OTP credentials of a DS100',
  tags: ['DS100'],
  body: LookupBody,
  response: { 200: CredentialRecords, ...errorResponses },
};

export const lookupDs100Route =
  (credentials: CredentialService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post('/v1/ds100/lookup', { schema, config: { operation: 'ds100.lookup', kind: 'read' } }, (request) =>
      credentials.lookup(request.body.deviceSerialNumber),
    );
  };
