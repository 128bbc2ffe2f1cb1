import { Option, type Command } from 'commander';
import { systemClock } from '../domain/clock.ts';
import { makeDirectoryService, type NewRegistration, type NewUser } from '../domain/directory.ts';
import { TOKEN_STATUSES, type TokenStatus } from '../domain/types.ts';
import { CliError, EXIT, cliActor, usingStore, withDataOptions, type DataOptions } from './common.ts';
import { field, readRecords } from './rows.ts';

/** Progress on a terminal only: a pipe or a log file gets the final line alone. */
function progress(what: string): ((n: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (n) => process.stderr.write(`\r${what}: ${n.toLocaleString('en')} rows`);
}

function asStatus(value: string | undefined, where: string): TokenStatus | undefined {
  if (value === undefined) return undefined;
  const status = TOKEN_STATUSES.find((s) => s.toLowerCase() === value.toLowerCase());
  if (!status) throw new CliError(`${where}: status must be Enabled or Disabled, not "${value}"`, EXIT.usage);
  return status;
}

async function* userRows(path: string): AsyncGenerator<NewUser> {
  let n = 0;
  for await (const r of readRecords(path)) {
    n++;
    const email = field(r, 'email', 'emailaddress');
    if (!email) throw new CliError(`${path}: record ${n} has no email`, EXIT.usage);
    yield {
      email,
      ...(field(r, 'id', 'userid') ? { id: field(r, 'id', 'userid') } : {}),
      firstName: field(r, 'firstname') ?? null,
      lastName: field(r, 'lastname') ?? null,
    };
  }
}

async function* registrationRows(path: string): AsyncGenerator<NewRegistration> {
  let n = 0;
  for await (const r of readRecords(path)) {
    n++;
    const user = field(r, 'user', 'userid', 'email');
    const device = field(r, 'deviceserialnumber', 'device', 'deviceserial');
    if (!user || !device) throw new CliError(`${path}: record ${n} needs a user and a deviceSerialNumber`, EXIT.usage);
    const token = field(r, 'tokenserialnumber', 'tokenserial');
    const status = asStatus(field(r, 'tokenstatus', 'status'), `${path}: record ${n}`);
    const name = field(r, 'name');
    yield {
      user,
      deviceSerialNumber: device,
      ...(token ? { tokenSerialNumber: token } : {}),
      ...(status ? { tokenStatus: status } : {}),
      ...(name ? { name } : {}),
    };
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
  ).action(async (file: string, o: DataOptions) => {
    const n = await usingStore(o, (store) =>
      makeDirectoryService({ store, clock: systemClock }).importUsers(cliActor(), userRows(file), progress('users')),
    );
    if (process.stderr.isTTY) process.stderr.write('\n');
    console.log(`imported ${n} users`);
  });

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
  ).action(async (file: string, o: DataOptions) => {
    const n = await usingStore(o, (store) =>
      makeDirectoryService({ store, clock: systemClock }).importRegistrations(cliActor(), registrationRows(file), progress('ds100')),
    );
    if (process.stderr.isTTY) process.stderr.write('\n');
    console.log(`registered ${n} credentials`);
  });
}
