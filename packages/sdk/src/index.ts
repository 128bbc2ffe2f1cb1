/**
 * ds100-admin SDK: a typed client for the SecurID Cloud Administration API's DS100 endpoints,
 * for this server or a tenant of the vendor's cloud.
 *
 * ```ts
 * import { Ds100AdminClient, NotFoundError } from '@ds100-admin/sdk';
 *
 * const client = await Ds100AdminClient.fromKeyFile('./help-desk.key');
 * const { id } = await client.lookupUser({ email: 'jane.doe@example.com' });
 * await client.enableOtp({ deviceSerialNumber: '140100080', userId: id });
 * ```
 *
 * @packageDocumentation
 */
export {
  Ds100AdminClient,
  restBaseUrl,
  SDK_VERSION,
  MAX_TOKEN_LIFETIME_SECONDS,
  TOKEN_RENEWAL_MARGIN_SECONDS,
  type ClientOptions,
  type OAuthClientOptions,
  type CallOptions,
  type SdkClock,
  type EventLogWindow,
} from './client.ts';
export { loadKeyFile, parseKeyFile, parsePrivateKey, type KeyFile } from './keyfile.ts';
export { loadJwkFile, parseJwk, clientAssertion, ASSERTION_LIFETIME_SECONDS, type OAuthAlg, type OAuthKey } from './oauth.ts';
export { DEFAULT_RETRY, type RetryOptions, type RetryEvent } from './retry.ts';
export {
  Ds100AdminError,
  ApiResponseError,
  BadRequestError,
  ForbiddenError,
  type ForbiddenReason,
  UnauthorizedError,
  OAuthTokenError,
  NotFoundError,
  RateLimitError,
  ServerError,
  RequestTimeoutError,
  RequestAbortedError,
  ConnectionError,
  UnexpectedResponseError,
  KeyFileError,
} from './errors.ts';
/** The wire types, generated from the server's contract (src/contract) into wire.ts. */
export { ENDPOINTS, REST_BASE_PATH, ROLES, SCOPES } from './wire.ts';
export type {
  OperationId,
  Role,
  Scope,
  SetStatusRequest,
  DeleteRequest,
  ClearPinRequest,
  LookupRequest,
  UserLookupRequest,
  StatusItemResponse,
  ClearPinResponse,
  CredentialResponse,
  UserResponse,
  ErrorResponse,
  ForbiddenResponse,
  AdminLogEntry,
  UserEventLogEntry,
  AdminLogPageResponse,
  UserEventLogPageResponse,
  UnauthorizedResponse,
} from './wire.ts';
