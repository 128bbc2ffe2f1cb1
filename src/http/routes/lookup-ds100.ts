import type { CredentialService } from '../../domain/credentials.ts';
import { endpoints } from '../../contract/endpoints.ts';
import { apiRoute } from '../route.ts';

/** Contract 4.5: every OTP credential of a device, as full records in the documented order. */
export const lookupDs100Route = (credentials: CredentialService) =>
  apiRoute(endpoints.lookupDs100, (request) => credentials.lookup(request.body.deviceSerialNumber));
