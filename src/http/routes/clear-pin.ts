import type { CredentialService } from '../../domain/credentials.ts';
import { endpoints } from '../../contract/endpoints.ts';
import { actorOf } from '../context.ts';
import { apiRoute } from '../route.ts';

/** Contract 4.4: answers a single object, not an array. */
export const clearPinRoute = (credentials: CredentialService) =>
  apiRoute(endpoints.clearPin, (request) => credentials.clearPin(actorOf(request), request.body));
