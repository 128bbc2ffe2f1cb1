import type { CredentialService } from '../../domain/credentials.ts';
import { endpoints } from '../../contract/endpoints.ts';
import { authenticatedActor } from '../context.ts';
import { apiRoute } from '../route.ts';

/** Enable and disable (contract 4.1, 4.2) differ only in the status they set. */
export const setOtpStatusRoutes = (credentials: CredentialService) => [
  apiRoute(endpoints.enableOtp, (request) => credentials.enable(authenticatedActor(request), request.body)),
  apiRoute(endpoints.disableOtp, (request) => credentials.disable(authenticatedActor(request), request.body)),
];
