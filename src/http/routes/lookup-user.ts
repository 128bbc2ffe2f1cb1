import type { DirectoryService } from '../../domain/directory.ts';
import { endpoints } from '../../contract/endpoints.ts';
import { apiRoute } from '../route.ts';

/** Contract 5: turns an e-mail address into the user (and id) that the DS100 endpoints take. */
export const lookupUserRoute = (directory: DirectoryService) =>
  apiRoute(endpoints.lookupUser, (request) => directory.lookupUser(request.body.email));
