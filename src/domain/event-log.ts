import {
  ADMIN_LOG_RETENTION_DAYS, EXPORT_DEFAULT_WINDOW_HOURS, EXPORT_MAX_END_AHEAD_SECONDS, EXPORT_PAGE_SIZE, USER_EVENT_LOG_RETENTION_DAYS,
} from '../contract/limits.ts';
import type { AdminLogEntry, AdminLogPageResponse, UserEventLogEntry, UserEventLogPageResponse } from '../contract/schemas.ts';
import { apiError } from '../errors.ts';
import { activityOf, messageOf, OUTCOMES, reasonKeyOf, roleName, succeeded, userMessageOf } from './activity.ts';
import type { Clock } from './clock.ts';
import type { AuditLog, LoggedAuditEvent, Store } from './store.ts';
import type { AuditTarget, StoredAuditEvent } from './types.ts';

const DAY_MS = 86_400_000;

/** Each log's retention, in milliseconds (contract 11). */
export const RETENTION_MS: Record<AuditLog, number> = {
  admin: ADMIN_LOG_RETENTION_DAYS * DAY_MS,
  user: USER_EVENT_LOG_RETENTION_DAYS * DAY_MS,
};

/** What an export is asked, as the query string gave it: each a string when sent once. */
export type ExportParameters = Record<string, unknown>;

export interface ExportWindow {
  /** Exclusive, ISO 8601 UTC with milliseconds. */
  after: string;
  /** Inclusive. */
  upTo: string;
  pageNumber: number;
  pageSize: number;
}

/**
 * ISO 8601 with an offset, 0 to 9 fractional digits: `2025-10-15T15:12:59Z`, `...59.5z`,
 * `...59.123456789+05:30`, `...-00:00`. Fractions finer than the trail's milliseconds are cut,
 * which keeps both ends of a window exact: an event at .123 is after .1234 as it is after .123 no more.
 */
const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
/** The same with a space where the offset's sign was: a `+` that the query string decoded as a space. */
const PLUS_AS_SPACE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})? \d{2}:\d{2}$/;
const TIME_RULE = 'must be an ISO 8601 time with an offset, e.g. 2025-10-15T15:12:59.899Z or 2025-10-15T20:42:59%2B05:30';

/** The value of a parameter sent at most once, or undefined. */
function single(query: ExportParameters, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw apiError('QUERY_PARAMETER', name, 'must be given once');
  return value;
}

/** Milliseconds since the epoch of a time parameter. */
export function parseTime(name: string, text: string): number {
  const m = TIME.exec(text);
  if (!m) {
    if (PLUS_AS_SPACE.test(text)) throw apiError('QUERY_PLUS_AS_SPACE', name);
    throw apiError('QUERY_PARAMETER', name, TIME_RULE);
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const offsetMinutes = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const local = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const check = new Date(local);
  // Date.UTC rolls 2025-02-30 over to March: a date that does not exist is refused.
  const exists =
    check.getUTCFullYear() === year && check.getUTCMonth() === month - 1 && check.getUTCDate() === day &&
    hour < 24 && minute < 60 && second < 60 && Number(m[9] ?? 0) < 24 && Number(m[10] ?? 0) < 60;
  if (!exists) throw apiError('QUERY_PARAMETER', name, TIME_RULE);
  return local - offsetMinutes * 60_000;
}

/** The window and page an export asks for, with the contract's defaults (contract 11). */
export function parseExportWindow(query: ExportParameters, now: number): ExportWindow {
  const startText = single(query, 'startTimeAfter');
  const endText = single(query, 'endTimeOnOrBefore');
  const pageText = single(query, 'pageNumber');
  const sizeText = single(query, 'pageSize');
  const end = endText === undefined ? now : parseTime('endTimeOnOrBefore', endText);
  const start = startText === undefined ? now - EXPORT_DEFAULT_WINDOW_HOURS * 3_600_000 : parseTime('startTimeAfter', startText);
  if (end > now + EXPORT_MAX_END_AHEAD_SECONDS * 1000) {
    throw apiError('QUERY_PARAMETER', 'endTimeOnOrBefore', `is more than ${EXPORT_MAX_END_AHEAD_SECONDS} seconds ahead of the server's clock`);
  }
  if (start > end) throw apiError('WINDOW_REVERSED');
  let pageNumber = 0;
  if (pageText !== undefined) {
    pageNumber = /^\d{1,10}$/.test(pageText) ? Number(pageText) : NaN;
    if (!(pageNumber <= 2 ** 31 - 1)) throw apiError('QUERY_PARAMETER', 'pageNumber', 'must be a whole number from 0');
  }
  let pageSize = EXPORT_PAGE_SIZE;
  if (sizeText !== undefined) {
    if (!/^[+-]?\d+$/.test(sizeText)) throw apiError('QUERY_PARAMETER', 'pageSize', 'must be a whole number');
    const n = Number(sizeText);
    if (n >= 1 && n <= EXPORT_PAGE_SIZE) pageSize = n;
  }
  return { after: new Date(start).toISOString(), upTo: new Date(end).toISOString(), pageNumber, pageSize };
}

/** What the admin log's elements say of the server that answers. */
export interface ServerIdentity {
  /** `{publicUrl}/AdminInterface/` */
  serverUrl: string;
  customerName: string;
}

export const APPLICATION = 'ds100-admin';
/** One tenant per server: its id in the log. */
export const CUSTOMER_ID = 1;

type Target = { id: string | null; name: string | null; type: string } | null;

/** The type of a target that is an OAuth client whose id is only what a token request claimed (contract 11). */
export const CLAIMED_CLIENT = 'OAuth client (claimed, not verified)';

/**
 * The user first, the credential (or DS100) second; keys and OAuth clients stand first when there
 * is no user, and a token request's scopes second.
 */
function targetsOf(t: AuditTarget): [Target, Target] {
  const first: Target =
    t.userId !== undefined || t.email !== undefined
      ? { id: t.userId ?? null, name: t.email ?? null, type: 'User' }
      : t.accessId !== undefined
        ? { id: t.accessId, name: null, type: 'Administration API key' }
        : t.clientId !== undefined
          ? { id: t.clientId, name: null, type: t.clientUnverified ? CLAIMED_CLIENT : 'OAuth client' }
          : null;
  const second: Target =
    t.tokenSerialNumber !== undefined
      ? { id: t.tokenSerialNumber, name: t.deviceSerialNumber ?? null, type: 'DS100 OTP credential' }
      : t.deviceSerialNumber !== undefined
        ? { id: t.deviceSerialNumber, name: null, type: 'DS100' }
        : t.scope !== undefined
          ? { id: t.scope, name: null, type: 'OAuth scopes' }
          : null;
  return [first, second];
}

/**
 * What the admin log says of one event, less what it says of the server and tenant: the
 * activity, its result, who did it from where, the sentence, the targets. The export's element
 * (`adminLogEntry`) and the console's activity page both show it.
 */
export function adminLogView(e: StoredAuditEvent) {
  const activity = activityOf(e.operation, e.outcome);
  return {
    eventId: e.seq,
    eventLogDate: e.loggedAt,
    sourceIPAddress: e.clientAddress,
    adminUserName: e.subject,
    adminUserRole: roleName(e),
    activityKey: activity.key,
    activityCode: activity.code,
    result: succeeded(e.outcome) ? ('SUCCESS' as const) : ('FAIL' as const),
    reasonKey: reasonKeyOf(e),
    message: messageOf(e),
    targets: targetsOf(e.target),
  };
}
export type AdminLogView = ReturnType<typeof adminLogView>;

export function adminLogEntry(e: LoggedAuditEvent, server: ServerIdentity & { serverIp: string }): AdminLogEntry {
  const v = adminLogView(e);
  const [t1, t2] = v.targets;
  return {
    eventId: v.eventId,
    eventLogDate: v.eventLogDate,
    eventType: 'Administration',
    serverURL: server.serverUrl,
    serverIPAddress: server.serverIp,
    application: APPLICATION,
    customerId: CUSTOMER_ID,
    customerName: server.customerName,
    sourceIPAddress: v.sourceIPAddress,
    adminUserName: v.adminUserName,
    adminUserRole: v.adminUserRole,
    activityKey: v.activityKey,
    activityCode: v.activityCode,
    result: v.result,
    reasonKey: v.reasonKey,
    message: v.message,
    requiresPublish: false,
    targetObject1Id: t1?.id ?? null,
    targetObject1Name: t1?.name ?? null,
    targetObject1Type: t1?.type ?? null,
    targetObject2Id: t2?.id ?? null,
    targetObject2Name: t2?.name ?? null,
    targetObject2Type: t2?.type ?? null,
  };
}

export function userEventLogEntry(e: LoggedAuditEvent, email: string | null, customerName: string): UserEventLogEntry {
  const activity = activityOf(e.operation, e.outcome);
  return {
    eventId: e.seq,
    eventLogDate: e.loggedAt,
    eventType: 'User',
    customerId: CUSTOMER_ID,
    customerName,
    userId: e.target.userId ?? '',
    userEmailAddress: email,
    deviceSerialNumber: e.target.deviceSerialNumber ?? null,
    tokenSerialNumber: e.target.tokenSerialNumber ?? null,
    activityKey: activity.key,
    activityCode: activity.code,
    result: succeeded(e.outcome) ? 'SUCCESS' : 'FAIL',
    reasonKey: OUTCOMES[e.outcome].reason,
    message: userMessageOf(e),
  };
}

export interface EventLogDeps {
  store: Store;
  clock: Clock;
  server: () => ServerIdentity;
}

/**
 * Contract 11: the two event logs, a page of a window at a time. Before it reads, an export
 * seals its window's end (`StoreTx.sealAudit`): every event stamped inside the window is then
 * committed, and every later one is stamped after it, so a collector that moves its window on to
 * the end it asked for never misses an event. The window's start is kept within the log's
 * retention; each page is a range of the log's numbers, found by the index at any depth.
 */
export function makeEventLogService({ store, clock, server }: EventLogDeps) {
  async function page(log: AuditLog, query: ExportParameters) {
    const now = clock.now();
    const w = parseExportWindow(query, now);
    const oldest = new Date(now - RETENTION_MS[log]).toISOString();
    const after = w.after > oldest ? w.after : oldest;
    await store.sealAudit(w.upTo);
    let events: LoggedAuditEvent[] = [];
    let total = 0;
    if (after < w.upTo) {
      const [low, high] = await Promise.all([store.auditLogPosition(log, after), store.auditLogPosition(log, w.upTo)]);
      if (low !== null && high !== null && high > low) {
        total = high - low;
        const from = low + w.pageNumber * w.pageSize;
        if (from < high) events = await store.auditLogPage(log, from, Math.min(from + w.pageSize, high));
      }
    }
    const meta = { totalPages: Math.ceil(total / w.pageSize), totalElements: total, pageSize: w.pageSize, currentPage: w.pageNumber };
    return { events, meta };
  }

  return {
    async exportAdminLog(query: ExportParameters, serverIp: string): Promise<AdminLogPageResponse> {
      const { events, meta } = await page('admin', query);
      const identity = { ...server(), serverIp };
      return { ...meta, elements: events.map((e) => adminLogEntry(e, identity)) };
    },

    async exportUserEventLog(query: ExportParameters): Promise<UserEventLogPageResponse> {
      const { events, meta } = await page('user', query);
      const emails = new Map<string, string | null>();
      for (const e of events) {
        const id = e.target.userId!;
        if (!emails.has(id)) emails.set(id, (await store.userById(id))?.emailAddress ?? null);
      }
      const { customerName } = server();
      return { ...meta, userEventLogExportEntries: events.map((e) => userEventLogEntry(e, emails.get(e.target.userId!) ?? null, customerName)) };
    },
  };
}

export type EventLogService = ReturnType<typeof makeEventLogService>;
