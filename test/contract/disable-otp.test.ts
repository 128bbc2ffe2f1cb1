/** Spec 4.2: `PATCH /AdminInterface/restapi/v1/ds100/disable/otp`: same request, same rules as enable (set-status.ts). */
import { ENDPOINTS } from './wire.ts';
import { describeSetStatus } from './set-status.ts';

describeSetStatus(ENDPOINTS.disable, 'Disabled');
