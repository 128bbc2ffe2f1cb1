import type { CredentialService } from '../../domain/credentials.ts';
import { endpoints } from '../../contract/endpoints.ts';
import { actorOf } from '../context.ts';
import { apiRoute } from '../route.ts';

/** Contract 4.3: a DELETE with a JSON body; 200 with an empty body ("Not Applicable"). */
export const deleteOtpRoute = (credentials: CredentialService) =>
  apiRoute(endpoints.deleteOtp, (request) => credentials.delete(actorOf(request), request.body));
