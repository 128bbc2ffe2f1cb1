import { apiError, type ApiError } from '../errors.ts';

/**
 * The examples of the OpenAPI document: the vendor's published requests, answers and error bodies
 * (docs/contract.md#8-the-vendors-examples), for tools that mock the API or show it to a person.
 * The served document cannot read test/, so the values live here; test/contract/openapi.test.ts
 * holds them equal to test/fixtures/doc-examples.json, and every change made to a published value
 * is named in its example's description.
 */

export interface Example {
  summary: string;
  description?: string;
  value: unknown;
}

/** The access id of the vendor's published key and token example, standing in for "<admin subject>". */
export const EXAMPLE_ACCESS_ID = '139f6495-e447-4a26-a765-5c01b6b152d5';

const SUBJECT_NOTE = `The vendor writes "<admin subject>" for tokenStatusChangedBy: here the access id of the vendor's key example, ${EXAMPLE_ACCESS_ID}.`;

const vendor = (value: unknown, description?: string): Record<string, Example> => ({
  vendor: { summary: "The vendor's published example", ...(description ? { description } : {}), value },
});

/** An application error body exactly as the catalog makes it. */
const catalogBody = (error: ApiError) => ({ code: error.code, description: error.description });

/** The vendor's published error bodies (all four shapes it shows). */
export const VENDOR_ERRORS = {
  notFound: { code: '404 NOT_FOUND', description: 'User cddedcec-4444-5555-6666-06e3f89947c4 not found' },
  badRequest: { code: '400 BAD_REQUEST', description: 'Wrong number of properties in the request body.' },
  internal: { code: '500 INTERNAL_SERVER_ERROR', description: 'An internal error occurred.' },
  forbidden: {
    timestamp: 1749938869908,
    status: 403,
    error: 'Forbidden',
    message: 'Server failed to process provided access token',
    path: '/AdminInterface/restapi/v1/users/cddedcec-4444-5555-6666-06e3f89947c4/userStatus',
  },
};

interface OperationExamples {
  request: Record<string, Example>;
  /** The 200's body; absent when it is empty. */
  response?: Record<string, Example>;
  /** A 404 this operation really answers, when the vendor's (an unknown user id) is not one. */
  notFound?: Record<string, Example>;
}

const ENABLE_REQUEST = { deviceSerialNumber: '140100080', userId: 'ece30fe9-414c-7536-5403-0656220b3046' };
const statusItem = (tokenStatus: 'Enabled' | 'Disabled', tokenStatusChangedAt: string) => ({
  userId: 'ece30fe9-414c-7536-5403-0656220b3046',
  tokenSerialNumber: '014010008031',
  tokenStatus,
  tokenStatusChangedAt,
  tokenStatusChangedBy: EXAMPLE_ACCESS_ID,
  deviceSerialNumber: '140100080',
});

/** By operation id (the contract's `endpoints`). */
export const OPERATION_EXAMPLES: Record<string, OperationExamples> = {
  enableOtp: {
    request: vendor(ENABLE_REQUEST),
    response: vendor([statusItem('Enabled', '2022-05-24T07:30:55.856Z')], SUBJECT_NOTE),
  },
  disableOtp: {
    request: vendor(ENABLE_REQUEST),
    response: vendor(
      [statusItem('Disabled', '2022-05-24T08:40:41.067Z')],
      `${SUBJECT_NOTE} The published tokenStatusChangedAt, 2022-05-24T084041.067Z, lacks its colons (a typo); the server writes the form shown.`,
    ),
  },
  deleteOtp: {
    request: vendor({ tokenSerialNumber: '014010008038', deviceSerialNumber: '140100080', userId: '87927fb7-e185-4c33-c7e3-8e077675973c' }),
  },
  clearPin: {
    request: vendor(
      { tokenSerialNumber: '014010008039', userId: '87927fb7-e185-4c33-c7e3-8e077675973c' },
      'The vendor\'s property table misspells tokenSerialNumber as "toeknSerialNumber".',
    ),
    response: vendor(
      { tokenSerialNumber: '014010008039', pinSet: false },
      "The published answer misses a comma and names 014010008038; the server echoes the request's serial.",
    ),
  },
  lookupDs100: {
    request: vendor({ deviceSerialNumber: '140100080' }),
    response: vendor(
      [
        {
          id: 'd4f8b2e7-f6e4-e102-bb28-ee0b5d37c2f2',
          name: 'dak-br03-ngx-01',
          userId: '26c1e3d6-b31c-803e-cf7f-bdbe7687a72b',
          deviceType: 'SecurID DS100',
          registeredDate: '2022-06-08T07:58:13.432Z',
          tokenSerialNumber: '014010008035',
          updatedAt: '2022-06-08T09:47:50.496Z',
          tokenState: 'Activated',
          expiryDate: null,
          tokenStatus: 'Disabled',
          tokenStatusReason: null,
          assignedAt: '2022-06-08T07:58:13.432Z',
          assignedBy: null,
          pinSet: false,
          tokenStatusChangedAt: null,
          tokenStatusChangedBy: null,
          deviceSerialNumber: '140100080',
        },
      ],
      'The published record stops after assignedAt; the keys from assignedBy on are what the server answers for it.',
    ),
    notFound: { ours: { summary: 'A device with no OTP credential', value: catalogBody(apiError('DEVICE_HAS_NO_OTP', '140100081')) } },
  },
  // The vendor publishes no example of the user lookup: this one is the demo directory's user.
  lookupUser: {
    request: { ours: { summary: 'A user of the demo directory (`serve --demo`)', value: { email: 'jane.doe@example.com', searchUnsynched: false } } },
    response: {
      ours: {
        summary: 'A user of the demo directory (`serve --demo`)',
        value: {
          id: 'ece30fe9-414c-7536-5403-0656220b3046',
          emailAddress: 'jane.doe@example.com',
          firstName: 'Jane',
          lastName: 'Doe',
          creationDate: '2022-05-24T07:00:00.000Z',
          identitySource: 'Internal Database',
          userStatus: 'Enabled',
          markDeleted: false,
          markDeletedAt: null,
          markDeletedBy: null,
          lastSyncTime: null,
        },
      },
    },
    notFound: { ours: { summary: 'No user has this address', value: catalogBody(apiError('USER_NOT_FOUND', 'nobody@example.com')) } },
  },
};

/**
 * Examples of an error answer of `operation`, in its wire shape. `refusedByRole`: some role may not
 * call it, so a 403 may also be the role's; `path` is the operation's, as that 403 names it.
 */
export function errorExamples(operation: string, status: number, refusedByRole: boolean, path: string): Record<string, Example> {
  switch (status) {
    case 400:
      return vendor(VENDOR_ERRORS.badRequest);
    case 403:
      return {
        ...vendor(VENDOR_ERRORS.forbidden, 'A token the server refused, for whatever reason (the vendor\'s shows another endpoint\'s path).'),
        ...(refusedByRole
          ? {
              role: {
                summary: "A valid token whose role may not call this operation",
                value: { ...VENDOR_ERRORS.forbidden, message: apiError('NOT_AUTHORIZED').description, path },
              },
            }
          : {}),
      };
    case 401:
      return {
        ours: {
          summary: 'An OAuth access token the server refused, for whatever reason',
          value: { ...VENDOR_ERRORS.forbidden, status: 401, error: 'Unauthorized', message: apiError('INVALID_ACCESS_TOKEN').description, path },
        },
      };
    case 404:
      return OPERATION_EXAMPLES[operation]?.notFound ?? vendor(VENDOR_ERRORS.notFound);
    case 413:
      return { ours: { summary: 'A body over 16 KiB', value: catalogBody(apiError('BODY_TOO_LARGE')) } };
    case 429:
      return { ours: { summary: 'A rate limit refused the call', value: catalogBody(apiError('TOO_MANY_REQUESTS')) } };
    case 500:
      return vendor(VENDOR_ERRORS.internal);
    default:
      return {};
  }
}
