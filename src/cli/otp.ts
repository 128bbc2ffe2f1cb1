import { createWriteStream, type WriteStream } from 'node:fs';
import { Option, type Command } from 'commander';
import { ApiResponseError, Ds100AdminError, type Ds100AdminClient, type StatusItemResponse } from '@ds100-admin/sdk';
import { checkIdentifier, checkUserReference } from '../domain/values.ts';
import { ApiError } from '../errors.ts';
import { CliError, EXIT, parseCount } from './common.ts';
import {
  clientFrom,
  printJson,
  printRecord,
  printTable,
  resolveUser,
  wantsJson,
  withClientOptions,
  type ClientCliOptions,
} from './client.ts';
import { field, readRecords, type FileRecord } from './rows.ts';

const STATUS_COLUMNS = ['userId', 'tokenSerialNumber', 'tokenStatus', 'tokenStatusChangedAt', 'tokenStatusChangedBy', 'deviceSerialNumber'];
const LOOKUP_COLUMNS = ['tokenSerialNumber', 'userId', 'tokenStatus', 'pinSet', 'tokenState', 'name', 'updatedAt'];

type Verb = 'enable' | 'disable';

interface SetStatusOptions extends ClientCliOptions {
  device?: string;
  user?: string;
  from?: string;
  concurrency: number;
  results?: string;
}

/** One line of a bulk run's results: JSON lines that a re-run can read back with `--from`. */
export interface BulkResult {
  /** 1-based number of the record in the input (a CSV header is not counted). */
  row: number;
  device: string | null;
  user: string | null;
  outcome: 'ok' | 'failed';
  /** The HTTP status, or null when no request was made or no answer came. */
  status: number | null;
  message: string;
  userId?: string;
  requestId?: string;
}

function setStatus(client: Ds100AdminClient, verb: Verb, deviceSerialNumber: string, userId: string): Promise<StatusItemResponse[]> {
  return verb === 'enable' ? client.enableOtp({ deviceSerialNumber, userId }) : client.disableOtp({ deviceSerialNumber, userId });
}

async function runOne(verb: Verb, o: SetStatusOptions): Promise<void> {
  if (!o.device || !o.user) throw new CliError(`otp ${verb} needs --device and --user, or --from FILE`, EXIT.usage);
  const client = await clientFrom(o);
  const userId = await resolveUser(client, o.user);
  const items = await setStatus(client, verb, o.device, userId);
  if (wantsJson(o)) printJson(items);
  else printTable(items, STATUS_COLUMNS);
}

/** Progress on a terminal: a bar when the total is known. */
function progressLine(verb: Verb, total: number | undefined): ((done: number, failed: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, failed) => {
    const bar = total ? `[${'#'.repeat(Math.round((done / total) * 20)).padEnd(20, '.')}] ${done}/${total}` : `${done}`;
    process.stderr.write(`\rotp ${verb} ${bar} rows, ${failed} failed`);
  };
}

async function countRecords(path: string): Promise<number> {
  let n = 0;
  for await (const _ of readRecords(path)) n++;
  return n;
}

const FROM_COLUMNS = { device: ['device', 'deviceSerialNumber', 'deviceSerial'], user: ['user', 'userId', 'email'] };

async function* numbered(path: string): AsyncGenerator<{ row: number; record: FileRecord }> {
  let row = 0;
  for await (const record of readRecords(path, { required: Object.values(FROM_COLUMNS) })) yield { row: ++row, record };
}

/** A row's device and user as the file gave them, and as checked by the API's rules (trimmed). */
function rowValues(record: FileRecord): { device: string | null; user: string | null; checked?: { device: string; user: string }; error?: Error } {
  if ('error' in record) return { device: null, user: null, error: record.error };
  let device: string | null = null;
  let user: string | null = null;
  try {
    device = field(record.values, ...FROM_COLUMNS.device) ?? null;
    user = field(record.values, ...FROM_COLUMNS.user) ?? null;
    if (!device || !user) return { device, user, error: new Error('needs a device (or deviceSerialNumber) and a user (or userId)') };
    return { device, user, checked: { device: checkIdentifier('deviceSerialNumber', device), user: checkUserReference('user', user) } };
  } catch (error) {
    if (!(error instanceof CliError || error instanceof ApiError)) throw error;
    return { device, user, error };
  }
}

async function runRow(
  client: Ds100AdminClient,
  verb: Verb,
  row: number,
  record: FileRecord,
  userIds: Map<string, Promise<string>>,
): Promise<BulkResult> {
  const { device, user, checked, error } = rowValues(record);
  const base = { row, device, user };
  if (!checked) return { ...base, outcome: 'failed', status: null, message: `${record.at}: ${error?.message}` };
  let userId: string | undefined;
  try {
    const key = checked.user.includes('@') ? checked.user.toLowerCase() : checked.user;
    let pending = userIds.get(key);
    if (!pending) {
      pending = resolveUser(client, checked.user);
      userIds.set(key, pending);
    }
    userId = await pending;
    const items = await setStatus(client, verb, checked.device, userId);
    const what = items.map((i) => `${i.tokenSerialNumber} ${i.tokenStatus}`).join(', ');
    return { ...base, outcome: 'ok', status: 200, message: what || 'no credential', userId };
  } catch (e) {
    if (!(e instanceof Ds100AdminError)) throw e;
    const api = e instanceof ApiResponseError ? e : undefined;
    return {
      ...base,
      outcome: 'failed',
      status: api?.status ?? null,
      message: api ? api.description : e.message,
      ...(userId ? { userId } : {}),
      ...(api?.requestId ? { requestId: api.requestId } : {}),
    };
  }
}

/**
 * `otp enable|disable --from FILE`: every row, `concurrency` at a time; a row's failure is
 * written down and the run goes on. One JSON line per row goes to stdout or `--results`.
 */
async function runBulk(verb: Verb, o: SetStatusOptions): Promise<void> {
  if (o.device || o.user) throw new CliError('--from reads device and user from the file: leave out --device and --user', EXIT.usage);
  const from = o.from!;
  const client = await clientFrom(o);
  const total = process.stderr.isTTY ? await countRecords(from) : undefined;
  const progress = progressLine(verb, total);
  let out: WriteStream | NodeJS.WriteStream = process.stdout;
  if (o.results) {
    const file = createWriteStream(o.results, { flags: 'w' });
    await new Promise<void>((resolve, reject) => file.once('open', () => resolve()).once('error', reject));
    out = file;
  }
  const rows = numbered(from);
  const userIds = new Map<string, Promise<string>>();
  let done = 0;
  let failed = 0;
  progress?.(0, 0);
  const worker = async () => {
    for (;;) {
      const next = await rows.next();
      if (next.done) return;
      const result = await runRow(client, verb, next.value.row, next.value.record, userIds);
      done++;
      if (result.outcome === 'failed') failed++;
      out.write(`${JSON.stringify(result)}\n`);
      progress?.(done, failed);
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: o.concurrency }, worker));
  if (progress) process.stderr.write('\n');
  if (out !== process.stdout) await new Promise<void>((resolve, reject) => (out as WriteStream).end((err?: Error | null) => (err ? reject(err) : resolve())));
  const summary = `otp ${verb}: ${done} rows, ${done - failed} ok, ${failed} failed`;
  const broken = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (broken) {
    // Whatever stopped the run, say what it had done.
    if (done > 0) process.stderr.write(`${summary}, then stopped:\n`);
    throw broken.reason;
  }
  if (failed > 0) throw new CliError(`${summary}${o.results ? ` (see ${o.results})` : ''}`, EXIT.failure);
  process.stderr.write(`${summary}\n`);
}

function registerSetStatus(otp: Command, verb: Verb): void {
  withClientOptions(
    otp
      .command(verb)
      .description(`${verb} the OTP credential of a user's DS100, or of every row of --from FILE`)
      .option('--device <serial>', 'device serial number, as printed on the DS100')
      .option('--user <id|email>', 'the user, by id or e-mail address (looked up first)')
      .option('--from <file>', 'CSV with a header row (device,user or deviceSerialNumber,userId) or JSON lines')
      .option('--concurrency <n>', 'rows in flight at once with --from', parseCount('--concurrency', 1, 64), 4)
      .option('--results <file>', 'with --from: write the result lines here instead of stdout'),
  ).action(
    async (o: SetStatusOptions) => {
      if (o.from) await runBulk(verb, o);
      else await runOne(verb, o);
    },
  );
}

/** `otp enable|disable|delete|clear-pin|lookup`: the DS100 endpoints, from a shell. */
export function registerOtpCommands(program: Command): void {
  const otp = program.command('otp').description("call a server's DS100 OTP endpoints with an Administration API key file or an OAuth client");
  registerSetStatus(otp, 'enable');
  registerSetStatus(otp, 'disable');

  withClientOptions(
    otp
      .command('delete')
      .description("delete the OTP credential of a user's DS100")
      .requiredOption('--device <serial>', 'device serial number')
      .requiredOption('--token-serial <serial>', 'OTP credential serial number, e.g. 014010008031')
      .requiredOption('--user <id|email>', 'the user, by id or e-mail address'),
  ).action(
    async (o: ClientCliOptions & { device: string; tokenSerial: string; user: string }) => {
      const client = await clientFrom(o);
      const userId = await resolveUser(client, o.user);
      const request = { tokenSerialNumber: o.tokenSerial, deviceSerialNumber: o.device, userId };
      await client.deleteOtp(request);
      if (wantsJson(o)) printJson({ deleted: true, ...request });
      else process.stdout.write(`deleted OTP credential ${o.tokenSerial} of DS100 ${o.device} (user ${userId})\n`);
    },
  );

  withClientOptions(
    otp
      .command('clear-pin')
      .description("clear the PIN of a user's OTP credential")
      .requiredOption('--token-serial <serial>', 'OTP credential serial number')
      .requiredOption('--user <id|email>', 'the user, by id or e-mail address'),
  ).action(
    async (o: ClientCliOptions & { tokenSerial: string; user: string }) => {
      const client = await clientFrom(o);
      const result = await client.clearPin({ tokenSerialNumber: o.tokenSerial, userId: await resolveUser(client, o.user) });
      if (wantsJson(o)) printJson(result);
      else printRecord(result);
    },
  );

  withClientOptions(
    otp
      .command('lookup')
      .description('the OTP credentials of a DS100')
      .addOption(new Option('--device <serial>', 'device serial number').makeOptionMandatory()),
  ).action(
    async (o: ClientCliOptions & { device: string }) => {
      const records = await (await clientFrom(o)).lookupDs100({ deviceSerialNumber: o.device });
      if (wantsJson(o)) printJson(records);
      else printTable(records, LOOKUP_COLUMNS);
    },
  );
}
