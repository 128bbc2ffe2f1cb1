import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { EMAIL_MAX_LENGTH, IDENTIFIER_MAX_LENGTH } from './limits.ts';

/**
 * The wire's JSON shapes, once. Routes validate and serialize with them, the OpenAPI document is
 * made from them, the domain's records are their static types, and the SDK's types are generated
 * from them (`npm run generate`), so none of these can drift apart. Property order here is the
 * order on the wire.
 */

/**
 * No identifier holds a NUL, and PostgreSQL cannot even compare a text with one (an error, not a
 * miss): a NUL is refused as a 400 before any engine sees it, so both engines answer alike.
 */
export const NO_NUL = '^[^\\u0000]*$';

/**
 * The rules of the values that name users and credentials, as JSON Schema keywords: the API's
 * schemas are built from them, and the directory applies the same (src/domain/values.ts) to every
 * value that enters the store another way (the command line, an import file).
 */
export const IDENTIFIER = { minLength: 1, maxLength: IDENTIFIER_MAX_LENGTH, pattern: NO_NUL } as const;
/** The 36-character rule is for identifiers; an e-mail address may be as long as SMTP allows. */
export const EMAIL = { minLength: 1, maxLength: EMAIL_MAX_LENGTH, pattern: NO_NUL } as const;

/** Every property of the DS100 bodies is an identifier. */
const Identifier = (description: string) => Type.String({ ...IDENTIFIER, description });

/** A string or null: `type: ['string', 'null']` (valid JSON Schema, and fast to serialize). */
const NullableString = (description?: string) =>
  Type.Unsafe<string | null>({ type: ['string', 'null'], ...(description ? { description } : {}) });

const strict = { additionalProperties: false } as const;

export const ROLES = ['SuperAdmin', 'HelpDeskAdmin', 'ReadOnly'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Every OAuth scope the server knows (contract 10), by the vendor's names: an OAuth client holds
 * some of them, an access token carries some, and each endpoint needs one. Any other scope a
 * client asks for is refused as unknown. The two `rsa.audit.*` scopes are those of the event log
 * exports (contract 11).
 */
export const SCOPES = [
  'rsa.authenticator.ds100.manage',
  'rsa.authenticator.ds100.delete',
  'rsa.authenticator.ds100.read',
  'rsa.user.read',
  'rsa.audit.admin',
  'rsa.audit.user',
] as const;
export type Scope = (typeof SCOPES)[number];

export const TokenStatus = Type.Union([Type.Literal('Enabled'), Type.Literal('Disabled')]);
export type TokenStatus = Static<typeof TokenStatus>;
export const TOKEN_STATUSES: readonly TokenStatus[] = ['Enabled', 'Disabled'];

const deviceSerialNumber = Identifier('Serial number printed on the DS100, e.g. 140100080');
const tokenSerialNumber = Identifier('Serial number of the OTP credential, e.g. 014010008031');
const userId = Identifier('Id of the user in the directory (opaque; not necessarily an RFC 4122 UUID)');

export const SetStatusBody = Type.Object({ deviceSerialNumber, userId }, strict);
export const DeleteBody = Type.Object({ tokenSerialNumber, deviceSerialNumber, userId }, strict);
export const ClearPinBody = Type.Object({ tokenSerialNumber, userId }, strict);
export const LookupBody = Type.Object({ deviceSerialNumber }, strict);
/**
 * Spec 5. An e-mail address may be longer than an identifier. `searchUnsynched` is accepted and
 * has no effect: this directory has no unsynchronized users.
 */
export const UserLookupBody = Type.Object(
  {
    email: Type.String({ ...EMAIL, description: 'E-mail address, matched without regard to case' }),
    searchUnsynched: Type.Optional(Type.Boolean()),
  },
  strict,
);

export const StatusItem = Type.Object({
  userId: Type.String(),
  tokenSerialNumber: Type.String(),
  tokenStatus: TokenStatus,
  tokenStatusChangedAt: NullableString('When the status last changed'),
  tokenStatusChangedBy: NullableString('The JWT subject (access id) that changed it'),
  deviceSerialNumber: Type.String(),
});
export const StatusItems = Type.Array(StatusItem);

export const ClearPinResult = Type.Object({ tokenSerialNumber: Type.String(), pinSet: Type.Boolean() });

export const CredentialRecord = Type.Object({
  id: Type.String(),
  name: NullableString(),
  userId: Type.String(),
  deviceType: Type.String(),
  registeredDate: Type.String(),
  tokenSerialNumber: Type.String(),
  updatedAt: Type.String(),
  tokenState: Type.String(),
  expiryDate: NullableString(),
  tokenStatus: TokenStatus,
  tokenStatusReason: NullableString(),
  assignedAt: NullableString(),
  assignedBy: NullableString(),
  pinSet: Type.Boolean(),
  tokenStatusChangedAt: NullableString(),
  tokenStatusChangedBy: NullableString(),
  deviceSerialNumber: Type.String(),
});
export const CredentialRecords = Type.Array(CredentialRecord);

export const UserRecord = Type.Object({
  id: Type.String(),
  emailAddress: NullableString(),
  firstName: NullableString(),
  lastName: NullableString(),
  creationDate: Type.String(),
  identitySource: NullableString(),
  userStatus: Type.Union([Type.Literal('Enabled'), Type.Literal('Disabled')]),
  markDeleted: Type.Boolean(),
  markDeletedAt: NullableString(),
  markDeletedBy: NullableString(),
  lastSyncTime: NullableString(),
});

/**
 * Contract 11: the query of both event log exports. Every parameter arrives as text and is read
 * by the server itself (src/domain/event-log.ts), which names the parameter it cannot read;
 * parameters it does not know are ignored, as collectors add their own.
 */
export const ExportLogQuery = Type.Object({
  startTimeAfter: Type.Optional(Type.String({ description: 'Exclusive. ISO 8601 with an offset (Z, +05:30 sent as %2B05:30, -00:00), 0 to 9 fractional digits. Default: a day before now' })),
  endTimeOnOrBefore: Type.Optional(Type.String({ description: 'Inclusive; same forms. Default: now. At most 60 seconds ahead of the server clock' })),
  pageNumber: Type.Optional(Type.String({ description: 'From 0. Default 0' })),
  pageSize: Type.Optional(Type.String({ description: 'Default 100; outside 1 to 100 it is taken as 100' })),
});

/** One event of the administration log, every key always present (contract 11). */
export const AdminLogEntry = Type.Object({
  eventId: Type.Integer({ description: 'Unique; below 2^53' }),
  eventLogDate: Type.String({ description: 'When the event was committed to the trail, e.g. 2025-10-15T15:12:59.899Z' }),
  eventType: Type.Literal('Administration'),
  serverURL: Type.String({ description: '{publicUrl}/AdminInterface/' }),
  serverIPAddress: Type.String(),
  application: Type.String(),
  customerId: Type.Integer(),
  customerName: Type.String(),
  sourceIPAddress: NullableString('The caller\'s address'),
  adminUserName: NullableString('The access id of the key (or the OAuth client) that called'),
  adminUserRole: Type.String({ description: 'e.g. Super Administrator' }),
  activityKey: Type.String({ description: 'UPPER_SNAKE, one per operation and outcome (docs/contract.md, section 11)' }),
  activityCode: Type.Integer(),
  result: Type.Union([Type.Literal('SUCCESS'), Type.Literal('FAIL')]),
  reasonKey: Type.String({ description: 'Empty when there is none' }),
  message: Type.String({ description: 'One sentence for a person' }),
  requiresPublish: Type.Boolean(),
  targetObject1Id: NullableString(),
  targetObject1Name: NullableString(),
  targetObject1Type: NullableString(),
  targetObject2Id: NullableString(),
  targetObject2Name: NullableString(),
  targetObject2Type: NullableString(),
});

/** One event of the user event log: what was done to one end user's credentials, from that user's side. */
export const UserEventLogEntry = Type.Object({
  eventId: Type.Integer({ description: 'The same id as the event in the administration log' }),
  eventLogDate: Type.String(),
  eventType: Type.Literal('User'),
  customerId: Type.Integer(),
  customerName: Type.String(),
  userId: Type.String(),
  userEmailAddress: NullableString('The user\'s address now; null when the user is gone'),
  deviceSerialNumber: NullableString(),
  tokenSerialNumber: NullableString(),
  activityKey: Type.String(),
  activityCode: Type.Integer(),
  result: Type.Union([Type.Literal('SUCCESS'), Type.Literal('FAIL')]),
  reasonKey: Type.String(),
  message: Type.String({ description: 'One sentence, said to the user' }),
});

const pageFields = {
  totalPages: Type.Integer(),
  totalElements: Type.Integer(),
  pageSize: Type.Integer(),
  currentPage: Type.Integer(),
};
export const AdminLogPage = Type.Object({ ...pageFields, elements: Type.Array(AdminLogEntry) });
export const UserEventLogPage = Type.Object({ ...pageFields, userEventLogExportEntries: Type.Array(UserEventLogEntry) });

/** Application errors: 400, 404, 413, 429, 500. */
export const ErrorBody = Type.Object({
  code: Type.String({ description: 'Status and reason phrase, e.g. "404 NOT_FOUND"' }),
  description: Type.String(),
});

/** Authentication and authorization refusals (403), in the style of a Spring Boot error. */
export const ForbiddenBody = Type.Object({
  timestamp: Type.Number({ description: 'Epoch milliseconds' }),
  status: Type.Literal(403),
  error: Type.Literal('Forbidden'),
  message: Type.String(),
  path: Type.String(),
});

/** An OAuth access token refused (contract 10): the Spring Boot shape, with status 401. */
export const UnauthorizedBody = Type.Object({
  timestamp: Type.Number({ description: 'Epoch milliseconds' }),
  status: Type.Literal(401),
  error: Type.Literal('Unauthorized'),
  message: Type.String(),
  path: Type.String(),
});

/** The error answers every DS100 endpoint documents, for its schema's `response`. */
export const errorResponses = {
  400: ErrorBody,
  401: UnauthorizedBody,
  403: ForbiddenBody,
  404: ErrorBody,
  413: ErrorBody,
  429: ErrorBody,
  500: ErrorBody,
} satisfies Record<number, TSchema>;

/** The Administration API key file the server hands out once: one JSON object. */
export const KeyFileRecord = Type.Object({
  customerName: Type.String(),
  accessID: Type.String(),
  description: Type.String(),
  accessKey: Type.String({ description: 'RSA private key, PEM, PKCS#1' }),
  adminRestApiUrl: Type.String({ description: '{publicUrl}/AdminInterface/restapi' }),
});

/**
 * The shapes a client sees, by the name the SDK gives their types. `npm run generate` writes
 * them as plain TypeScript into packages/sdk/src/wire.ts, and a test checks it is current.
 */
export const WIRE_TYPES = {
  SetStatusRequest: SetStatusBody,
  DeleteRequest: DeleteBody,
  ClearPinRequest: ClearPinBody,
  LookupRequest: LookupBody,
  UserLookupRequest: UserLookupBody,
  StatusItemResponse: StatusItem,
  ClearPinResponse: ClearPinResult,
  CredentialResponse: CredentialRecord,
  UserResponse: UserRecord,
  ErrorResponse: ErrorBody,
  ForbiddenResponse: ForbiddenBody,
  UnauthorizedResponse: UnauthorizedBody,
  KeyFile: KeyFileRecord,
  ExportLogQuery,
  AdminLogEntry,
  UserEventLogEntry,
  AdminLogPageResponse: AdminLogPage,
  UserEventLogPageResponse: UserEventLogPage,
} satisfies Record<string, TSchema>;

export type SetStatusRequest = Static<typeof SetStatusBody>;
export type DeleteRequest = Static<typeof DeleteBody>;
export type ClearPinRequest = Static<typeof ClearPinBody>;
export type LookupRequest = Static<typeof LookupBody>;
export type UserLookupRequest = Static<typeof UserLookupBody>;
export type StatusItemResponse = Static<typeof StatusItem>;
export type ClearPinResponse = Static<typeof ClearPinResult>;
export type CredentialResponse = Static<typeof CredentialRecord>;
export type UserResponse = Static<typeof UserRecord>;
export type ErrorResponse = Static<typeof ErrorBody>;
export type ForbiddenResponse = Static<typeof ForbiddenBody>;
export type UnauthorizedResponse = Static<typeof UnauthorizedBody>;
export type KeyFile = Static<typeof KeyFileRecord>;
export type ExportLogQuery = Static<typeof ExportLogQuery>;
export type AdminLogEntry = Static<typeof AdminLogEntry>;
export type UserEventLogEntry = Static<typeof UserEventLogEntry>;
export type AdminLogPageResponse = Static<typeof AdminLogPage>;
export type UserEventLogPageResponse = Static<typeof UserEventLogPage>;
