import { Option, type Command } from 'commander';
import { systemClock } from '../domain/clock.ts';
import {
  ImportInterruptedError,
  ImportStoppedError,
  makeDirectoryService,
  type DirectoryService,
  type ImportCounts,
  type ImportOptions,
  type ImportRecord,
  type NewRegistration,
  type NewUser,
} from '../domain/directory.ts';
import { TOKEN_STATUSES, type TokenStatus } from '../domain/types.ts';
import { CliError, EXIT, cliActor, reportError, usingStore, withDataOptions, type DataOptions } from './common.ts';
import { field, readRecords, type Values } from './rows.ts';

/** Progress on a terminal only: a pipe or a log file gets the final line alone. */
function progress(what: string): ((counts: ImportCounts) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (c) => process.stderr.write(`\r${what}: ${(c.committed + c.alreadyPresent + c.failed).toLocaleString('en')} rows`);
}

function asStatus(value: string | undefined): TokenStatus | undefined {
  if (value === undefined) return undefined;
  const status = TOKEN_STATUSES.find((s) => s.toLowerCase() === value.toLowerCase());
  if (!status) throw new CliError(`status must be Enabled or Disabled, not "${value}"`, EXIT.usage);
  return status;
}

const USER_COLUMNS = { email: ['email', 'emailAddress'], id: ['id', 'userId'] };
const REGISTRATION_COLUMNS = { user: ['user', 'userId', 'email'], device: ['deviceSerialNumber', 'device', 'deviceSerial'] };

function userInput(r: Values): NewUser {
  const email = field(r, ...USER_COLUMNS.email);
  if (!email) throw new CliError('no email', EXIT.usage);
  const id = field(r, ...USER_COLUMNS.id);
  return { email, ...(id ? { id } : {}), firstName: field(r, 'firstName') ?? null, lastName: field(r, 'lastName') ?? null };
}

function registrationInput(r: Values): NewRegistration {
  const user = field(r, ...REGISTRATION_COLUMNS.user);
  const device = field(r, ...REGISTRATION_COLUMNS.device);
  if (!user || !device) throw new CliError('needs a user and a deviceSerialNumber', EXIT.usage);
  const token = field(r, 'tokenSerialNumber', 'tokenSerial');
  const status = asStatus(field(r, 'tokenStatus', 'status'));
  const name = field(r, 'name');
  return {
    user,
    deviceSerialNumber: device,
    ...(token ? { tokenSerialNumber: token } : {}),
    ...(status ? { tokenStatus: status } : {}),
    ...(name ? { name } : {}),
  };
}

/** Each record of an import file as the directory's input, or as the reason it cannot be one. */
async function* importRecords<R>(path: string, required: string[][], toInput: (values: Values) => R): AsyncGenerator<ImportRecord<R>> {
  for await (const record of readRecords(path, { required })) {
    if ('error' in record) {
      yield record;
      continue;
    }
    try {
      yield { at: record.at, input: toInput(record.values) };
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      yield { at: record.at, error };
    }
  }
}

/**
 * Runs an import: each failed record is named on stderr as it is met, the import goes on past
 * it, and every exit (the end, a store failure such as a full disk, Ctrl-C) prints on stdout
 * what was committed, what was already there and what failed. The exit code is not 0 when
 * anything failed; running the same file again skips what is already there and does the rest.
 */
async function runImport(
  o: DataOptions,
  what: string,
  summary: (c: ImportCounts) => string,
  run: (directory: DirectoryService, options: ImportOptions) => Promise<ImportCounts>,
): Promise<void> {
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  // Once: a second Ctrl-C stops the process at once, as it would have without this.
  process.once('SIGINT', onSigint);
  const onProgress = progress(what);
  const clearLine = onProgress ? '\r\x1b[K' : '';
  let counts: ImportCounts;
  try {
    counts = await usingStore(o, (store) =>
      run(makeDirectoryService({ store, clock: systemClock }), {
        onFailure: (at, error) => process.stderr.write(`${clearLine}ds100-admin: ${at}: ${error.message}\n`),
        ...(onProgress ? { onProgress } : {}),
        signal: interrupt.signal,
      }),
    );
  } catch (error) {
    if (!(error instanceof ImportStoppedError)) throw error;
    if (onProgress) process.stderr.write('\n');
    console.log(summary(error.counts));
    const rest = error.resumeAt ? ` (nothing from ${error.resumeAt} on was imported: run the same file again to finish)` : '';
    if (error.cause instanceof ImportInterruptedError) throw new CliError(`interrupted${rest}`, EXIT.interrupted);
    const { message, exitCode } = reportError(error.cause);
    throw new CliError(`${message}${rest}`, exitCode);
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (onProgress) process.stderr.write('\n');
  console.log(summary(counts));
  if (counts.failed > 0) {
    throw new CliError(`${counts.failed} failed: correct them and run the same file again (what is already there is skipped)`, EXIT.failure);
  }
}

/** `users add|import` and `ds100 register|import`: how the directory is filled. */
export function registerDirectoryCommands(program: Command): void {
  const users = program.command('users').description('add users to the directory');
  withDataOptions(
    users
      .command('add')
      .description('add one user')
      .requiredOption('--email <email>', 'e-mail address (unique, matched without regard to case)')
      .option('--id <id>', 'user id (default: a new UUID)')
      .option('--first-name <name>', 'first name')
      .option('--last-name <name>', 'last name'),
  ).action(async (o: DataOptions & { email: string; id?: string; firstName?: string; lastName?: string }) => {
    const user = await usingStore(o, (store) =>
      makeDirectoryService({ store, clock: systemClock }).addUser(cliActor(), {
        email: o.email,
        ...(o.id ? { id: o.id } : {}),
        firstName: o.firstName ?? null,
        lastName: o.lastName ?? null,
      }),
    );
    console.log(user.id);
  });
  withDataOptions(
    users
      .command('import')
      .description('add users from a CSV file with a header row (email,id,firstName,lastName), JSON lines, or a JSON array')
      .argument('<file>', 'the file to import'),
  ).action(async (file: string, o: DataOptions) =>
    runImport(
      o,
      'users',
      (c) => `imported ${c.committed} users, ${c.alreadyPresent} already present, ${c.failed} failed`,
      (directory, options) => directory.importUsers(cliActor(), importRecords(file, [USER_COLUMNS.email], userInput), options),
    ),
  );

  const ds100 = program.command('ds100').description('register DS100 hardware authenticators to users');
  withDataOptions(
    ds100
      .command('register')
      .description("register a DS100's OTP credential to a user (at most five devices per user)")
      .requiredOption('--user <id|email>', 'the user, by id or e-mail address')
      .requiredOption('--device <serial>', 'device serial number, as printed on the DS100')
      .option('--token-serial <serial>', 'OTP credential serial (default: 0 + device serial + two digits)')
      .addOption(new Option('--status <status>', 'initial status').choices([...TOKEN_STATUSES]).default('Enabled')),
  ).action(async (o: DataOptions & { user: string; device: string; tokenSerial?: string; status: TokenStatus }) => {
    const credential = await usingStore(o, (store) =>
      makeDirectoryService({ store, clock: systemClock }).register(cliActor(), {
        user: o.user,
        deviceSerialNumber: o.device,
        tokenStatus: o.status,
        ...(o.tokenSerial ? { tokenSerialNumber: o.tokenSerial } : {}),
      }),
    );
    console.log(`${credential.tokenSerialNumber} registered to ${credential.userId} (${credential.tokenStatus})`);
  });
  withDataOptions(
    ds100
      .command('import')
      .description('register DS100s from a CSV file with a header row (user,deviceSerialNumber,tokenSerialNumber,status), JSON lines, or a JSON array')
      .argument('<file>', 'the file to import'),
  ).action(async (file: string, o: DataOptions) =>
    runImport(
      o,
      'ds100',
      (c) => `registered ${c.committed} credentials, ${c.alreadyPresent} already present, ${c.failed} failed`,
      (directory, options) =>
        directory.importRegistrations(cliActor(), importRecords(file, Object.values(REGISTRATION_COLUMNS), registrationInput), options),
    ),
  );
}
