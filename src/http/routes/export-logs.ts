import { endpoints } from '../../contract/endpoints.ts';
import type { EventLogService, ExportParameters } from '../../domain/event-log.ts';
import { apiRoute } from '../route.ts';

/** Contract 11: the two event log exports, each also served at its `exportLogs` spelling. */
export const exportLogRoutes = (eventLog: EventLogService) => [
  apiRoute(endpoints.exportAdminLog, (request) =>
    eventLog.exportAdminLog(request.query as ExportParameters, request.socket.localAddress ?? ''),
  ),
  apiRoute(endpoints.exportUserEventLog, (request) => eventLog.exportUserEventLog(request.query as ExportParameters)),
];
