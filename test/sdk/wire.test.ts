import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Static } from '@sinclair/typebox';
import type * as Sdk from '@ds100-admin/sdk';
import { ENDPOINTS, MAX_TOKEN_LIFETIME_SECONDS, REST_BASE_PATH, ROLES } from '@ds100-admin/sdk';
import { endpoints } from '../../src/contract/endpoints.ts';
import * as limits from '../../src/contract/limits.ts';
import type * as Contract from '../../src/contract/schemas.ts';
import * as schemas from '../../src/contract/schemas.ts';
import { WIRE_FILE, renderWire } from '../../scripts/sdk-wire.ts';

test('the SDK wire module is what `npm run generate` makes of the contract today', () => {
  assert.equal(readFileSync(WIRE_FILE, 'utf8'), renderWire(), 'packages/sdk/src/wire.ts is stale: run `npm run generate`');
});

test("the SDK's endpoint table and limits are the contract's", () => {
  assert.equal(REST_BASE_PATH, limits.REST_BASE_PATH);
  assert.equal(MAX_TOKEN_LIFETIME_SECONDS, limits.MAX_TOKEN_LIFETIME_SECONDS);
  assert.deepEqual(ROLES, schemas.ROLES);
  assert.deepEqual(
    Object.fromEntries(Object.entries(ENDPOINTS).map(([id, e]) => [id, [e.method, e.path]])),
    Object.fromEntries(Object.values(endpoints).map((e) => [e.operationId, [e.method, e.path]])),
  );
});

// Compile-time: `npm run typecheck` fails if a generated type differs from the schema's static type.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <T extends true>(): T => true as T;
test('every SDK wire type equals the static type of its contract schema', () => {
  same<Equal<Sdk.SetStatusRequest, Contract.SetStatusRequest>>();
  same<Equal<Sdk.DeleteRequest, Contract.DeleteRequest>>();
  same<Equal<Sdk.ClearPinRequest, Contract.ClearPinRequest>>();
  same<Equal<Sdk.LookupRequest, Contract.LookupRequest>>();
  same<Equal<Sdk.UserLookupRequest, Contract.UserLookupRequest>>();
  same<Equal<Sdk.StatusItemResponse, Contract.StatusItemResponse>>();
  same<Equal<Sdk.ClearPinResponse, Contract.ClearPinResponse>>();
  same<Equal<Sdk.CredentialResponse, Contract.CredentialResponse>>();
  same<Equal<Sdk.UserResponse, Contract.UserResponse>>();
  same<Equal<Sdk.ErrorResponse, Contract.ErrorResponse>>();
  same<Equal<Sdk.ForbiddenResponse, Contract.ForbiddenResponse>>();
  same<Equal<Sdk.KeyFile, Static<typeof schemas.KeyFileRecord>>>();
});
