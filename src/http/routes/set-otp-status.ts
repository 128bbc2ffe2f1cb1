import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CredentialService } from '../../domain/credentials.ts';
import { authenticatedActor } from '../context.ts';
import { SetStatusBody, StatusItems, errorResponses } from '../../contract/schemas.ts';

/**
 * Spec 4.1 and 4.2: `PATCH /v1/ds100/enable/otp` and `PATCH /v1/ds100/disable/otp`. The two
 * differ only in the status they set, so one definition serves both.
 */
const schemaFor = (verb: 'Enable' | 'Disable') => ({
  summary: `${verb} the OTP credential of a user's DS100`,
  tags: ['DS100'],
  body: SetStatusBody,
  response: { 200: StatusItems, ...errorResponses },
});

export const setOtpStatusRoutes =
  (credentials: CredentialService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.patch(
      '/v1/ds100/enable/otp',
      { schema: schemaFor('Enable'), config: { operation: 'ds100.enable', kind: 'write' } },
      async (request) => {
        const items = await credentials.enable(authenticatedActor(request), request.body);
        request.audited = true;
        return items;
      },
    );
    app.patch(
      '/v1/ds100/disable/otp',
      { schema: schemaFor('Disable'), config: { operation: 'ds100.disable', kind: 'write' } },
      async (request) => {
        const items = await credentials.disable(authenticatedActor(request), request.body);
        request.audited = true;
        return items;
      },
    );
  };
