/** Spec 4.1: `PATCH /AdminInterface/restapi/v1/ds100/enable/otp`. The rules it shares with disable are in set-status.ts. */
import { ENDPOINTS } from './wire.ts';
import { describeSetStatus } from './set-status.ts';

describeSetStatus(ENDPOINTS.enable, 'Enabled');
