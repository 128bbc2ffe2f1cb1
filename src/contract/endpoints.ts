import type { TSchema } from '@sinclair/typebox';
import {
  AdminLogPage, ClearPinBody, ClearPinResult, CredentialRecords, DeleteBody, ExportLogQuery, LookupBody, SetStatusBody, StatusItems,
  UserEventLogPage, UserLookupBody, UserRecord, type Role, type Scope,
} from './schemas.ts';

/**
 * One operation of the API, said once. Routes are registered from it (method, path, schemas),
 * the guard takes its roles, the audit trail its name, the OpenAPI document its operation id and
 * schemas, and the SDK's request table is generated from it.
 */
export interface Endpoint {
  /** OpenAPI operationId, and the SDK method's name. */
  readonly operationId: string;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Under REST_BASE_PATH. */
  readonly path: string;
  /** Other spellings of the path that real clients send, served by the same route (contract 11). */
  readonly aliases?: readonly string[];
  /** The audit trail's name for the operation, e.g. `ds100.enable`. */
  readonly audit: string;
  /** The roles whose keys may call it. */
  readonly roles: readonly Role[];
  /** The OAuth scope an access token needs to call it (contract 10). */
  readonly scope: Scope;
  readonly summary: string;
  readonly tag: 'DS100' | 'Users' | 'Event log';
  /** The JSON body of a POST, PATCH or DELETE. */
  readonly body?: TSchema;
  /** The query parameters of a GET, for the OpenAPI document and the SDK; the handler reads them. */
  readonly query?: TSchema;
  /** The 200 answer's shape; null: an empty body. */
  readonly response: TSchema | null;
}

/** Help desks change credentials; ReadOnly (our extension for auditors and dashboards) only reads. */
const CHANGERS = ['SuperAdmin', 'HelpDeskAdmin'] as const satisfies readonly Role[];
const READERS = ['SuperAdmin', 'HelpDeskAdmin', 'ReadOnly'] as const satisfies readonly Role[];
/** The event logs are for auditors: the help desk does not read what it is audited by. */
const AUDITORS = ['SuperAdmin', 'ReadOnly'] as const satisfies readonly Role[];

export const endpoints = {
  enableOtp: {
    operationId: 'enableOtp',
    method: 'PATCH',
    path: '/v1/ds100/enable/otp',
    audit: 'ds100.enable',
    roles: CHANGERS,
    scope: 'rsa.authenticator.ds100.manage',
    summary: "Enable the OTP credential of a user's DS100",
    tag: 'DS100',
    body: SetStatusBody,
    response: StatusItems,
  },
  disableOtp: {
    operationId: 'disableOtp',
    method: 'PATCH',
    path: '/v1/ds100/disable/otp',
    audit: 'ds100.disable',
    roles: CHANGERS,
    scope: 'rsa.authenticator.ds100.manage',
    summary: "Disable the OTP credential of a user's DS100",
    tag: 'DS100',
    body: SetStatusBody,
    response: StatusItems,
  },
  deleteOtp: {
    operationId: 'deleteOtp',
    method: 'DELETE',
    path: '/v1/ds100/delete/otp',
    audit: 'ds100.delete',
    roles: CHANGERS,
    scope: 'rsa.authenticator.ds100.delete',
    summary: "Delete the OTP credential of a user's DS100",
    tag: 'DS100',
    body: DeleteBody,
    response: null,
  },
  clearPin: {
    operationId: 'clearPin',
    method: 'PATCH',
    path: '/v1/ds100/clearPin/otp',
    audit: 'ds100.clearPin',
    roles: CHANGERS,
    scope: 'rsa.authenticator.ds100.manage',
    summary: 'Clear the PIN of an OTP credential',
    tag: 'DS100',
    body: ClearPinBody,
    response: ClearPinResult,
  },
  lookupDs100: {
    operationId: 'lookupDs100',
    method: 'POST',
    path: '/v1/ds100/lookup',
    audit: 'ds100.lookup',
    roles: READERS,
    scope: 'rsa.authenticator.ds100.read',
    summary: 'Retrieve the OTP credentials of a DS100',
    tag: 'DS100',
    body: LookupBody,
    response: CredentialRecords,
  },
  lookupUser: {
    operationId: 'lookupUser',
    method: 'POST',
    path: '/v1/users/lookup',
    audit: 'users.lookup',
    roles: READERS,
    scope: 'rsa.user.read',
    summary: 'Look up a user by e-mail address',
    tag: 'Users',
    body: UserLookupBody,
    response: UserRecord,
  },
  exportAdminLog: {
    operationId: 'exportAdminLog',
    method: 'GET',
    path: '/v1/adminlog/exportlogs',
    aliases: ['/v1/adminlog/exportLogs'],
    audit: 'adminlog.export',
    roles: AUDITORS,
    scope: 'rsa.audit.admin',
    summary: 'Export the administration event log, a page of a time window',
    tag: 'Event log',
    query: ExportLogQuery,
    response: AdminLogPage,
  },
  exportUserEventLog: {
    operationId: 'exportUserEventLog',
    method: 'GET',
    path: '/v1/usereventlog/exportlogs',
    aliases: ['/v1/usereventlog/exportLogs'],
    audit: 'usereventlog.export',
    roles: AUDITORS,
    scope: 'rsa.audit.user',
    summary: "Export the user event log (what was done to end users' credentials), a page of a time window",
    tag: 'Event log',
    query: ExportLogQuery,
    response: UserEventLogPage,
  },
} as const satisfies Record<string, Endpoint>;

export type EndpointName = keyof typeof endpoints;
