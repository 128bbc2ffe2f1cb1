import { ApiError } from '../errors.ts';
import type { Store } from './store.ts';
import type { Clock } from './clock.ts';
import { makeDirectoryService, type NewRegistration, type NewUser } from './directory.ts';
import type { Actor } from './types.ts';

/**
 * The directory that the vendor's published examples assume (the `seed` parts of
 * test/fixtures/doc-examples.json), loaded by `serve --demo` so that each published request
 * works against a fresh server. The vendor gives ids only; the e-mail addresses and names are
 * ours, so that user lookup has something to find. test/contract/fixtures.test.ts checks that
 * this stays a superset of the fixtures' seeds.
 *
 * The vendor's examples register device 140100080 to three users, so a device serial is not
 * unique to one user here either; lookup by device answers all of its credentials.
 */
export const demoUsers: NewUser[] = [
  { id: 'ece30fe9-414c-7536-5403-0656220b3046', email: 'jane.doe@example.com', firstName: 'Jane', lastName: 'Doe' },
  { id: '87927fb7-e185-4c33-c7e3-8e077675973c', email: 'john.smith@example.com', firstName: 'John', lastName: 'Smith' },
  { id: '26c1e3d6-b31c-803e-cf7f-bdbe7687a72b', email: 'alex.kim@example.com', firstName: 'Alex', lastName: 'Kim' },
];

export const demoRegistrations: NewRegistration[] = [
  // enable, then disable: the first example finds it Disabled, the second Enabled.
  { user: 'ece30fe9-414c-7536-5403-0656220b3046', deviceSerialNumber: '140100080', tokenSerialNumber: '014010008031', tokenStatus: 'Disabled' },
  // delete
  { user: '87927fb7-e185-4c33-c7e3-8e077675973c', deviceSerialNumber: '140100080', tokenSerialNumber: '014010008038', tokenStatus: 'Enabled' },
  // clear PIN
  { user: '87927fb7-e185-4c33-c7e3-8e077675973c', deviceSerialNumber: '140100080', tokenSerialNumber: '014010008039', tokenStatus: 'Enabled', pinSet: true },
  // lookup
  {
    id: 'd4f8b2e7-f6e4-e102-bb28-ee0b5d37c2f2',
    name: 'dak-br03-ngx-01',
    user: '26c1e3d6-b31c-803e-cf7f-bdbe7687a72b',
    deviceSerialNumber: '140100080',
    tokenSerialNumber: '014010008035',
    tokenStatus: 'Disabled',
    registeredDate: '2022-06-08T07:58:13.432Z',
    updatedAt: '2022-06-08T09:47:50.496Z',
  },
];

/**
 * Loads the demo directory, leaving alone whatever is already there, and says how many records
 * it added. Each record is looked for inside the transaction that adds it, and one that is
 * found there (added meanwhile by another server loading the demo too) counts as loaded: two
 * instances started with `--demo` at the same moment both start.
 */
export async function loadDemo(store: Store, clock: Clock, actor: Actor): Promise<number> {
  const directory = makeDirectoryService({ store, clock });
  const added = async (add: () => Promise<unknown>, code: string, present: () => Promise<unknown>): Promise<number> => {
    try {
      await add();
      return 1;
    } catch (error) {
      // The same code for a user whose e-mail address another user has: that one is a failure.
      if (error instanceof ApiError && error.errorName === code && (await present())) return 0;
      throw error;
    }
  };
  let count = 0;
  for (const u of demoUsers) {
    count += await added(() => directory.addUser(actor, u), 'USER_EXISTS', () => store.userById(u.id!));
  }
  for (const r of demoRegistrations) {
    count += await added(() => directory.register(actor, r), 'TOKEN_SERIAL_EXISTS', () => store.credentialByTokenSerial(r.tokenSerialNumber!));
  }
  return count;
}
