import { apiError } from '../errors.ts';
import { ACTIVITY_CHOICES, activityChoice } from './activity.ts';
import { parseTime } from './event-log.ts';
import { auditPagesOf, type AuditFilter, type AuditQuery, type Store, type StoreReader } from './store.ts';
import type { StoredAuditEvent } from './types.ts';

/**
 * The one query of the audit trail that people read: the console's activity page (the admin log,
 * newest first, a page at a time) and `ds100-admin audit` (the whole trail, oldest first) both
 * turn their filter into an `AuditFilter` here and read through `Store.searchAudit`, one SQL
 * statement on either engine.
 */

/** A person's filter, as typed: each part optional, every part given must hold. */
export interface TrailFilter {
  /** A user's id or e-mail address: the events whose target is that user (by either). */
  user?: string;
  /** Who acted: an administrator's e-mail address or id, an API key's access id, an OAuth client's id, `cli:<name>`. */
  admin?: string;
  /** An activity key of the admin log (`DS100_OTP_DISABLE_SUCCESS`, `SIGNIN_FAILURE`). */
  activity?: string;
  /** Bounds of the time of the call, inclusive: ISO 8601 UTC (see `trailTime`). */
  from?: string;
  to?: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A bound of a filter's time as the trail writes times (ISO 8601 UTC with milliseconds): a date
 * (`2026-01-31`, a UTC day: its first millisecond as a start, its last as an end) or a time with
 * an offset in any form the event log export takes. `name` names the parameter in the error.
 */
export function trailTime(name: string, text: string, end: boolean): string {
  if (DATE.test(text)) {
    const day = Date.parse(`${text}T00:00:00.000Z`);
    if (Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== text) throw apiError('INVALID_PROPERTY', name, 'must be a date (2026-01-31) or an ISO 8601 time with an offset');
    return new Date(end ? day + 86_399_999 : day).toISOString();
  }
  try {
    return new Date(parseTime(name, text)).toISOString();
  } catch {
    throw apiError('INVALID_PROPERTY', name, 'must be a date (2026-01-31) or an ISO 8601 time with an offset');
  }
}

/**
 * The store's filter for a person's: an e-mail address is looked up (a user's, to find the events
 * that name the user by id too; an administrator's, for the id that acts), an activity key
 * becomes its operation and outcomes. A bad value is refused with the parameter's name.
 */
export async function trailFilter(store: StoreReader, f: TrailFilter, { adminLog }: { adminLog: boolean }): Promise<AuditFilter> {
  const filter: AuditFilter = adminLog ? { adminLog } : {};
  if (f.user !== undefined) {
    const user = f.user.includes('@') ? await store.userByEmail(f.user) : await store.userById(f.user);
    const ids = new Set<string>(f.user.includes('@') ? [] : [f.user]);
    const emails = new Set<string>(f.user.includes('@') ? [f.user] : []);
    if (user) ids.add(user.id);
    if (user?.emailAddress) emails.add(user.emailAddress);
    filter.user = { ids: [...ids], emails: [...emails] };
  }
  if (f.admin !== undefined) filter.subject = f.admin.includes('@') ? ((await store.adminByEmail(f.admin))?.id ?? f.admin) : f.admin;
  if (f.activity !== undefined) {
    const choice = activityChoice(f.activity);
    if (!choice) throw apiError('INVALID_PROPERTY', 'activity', `must be an activity key of the admin log, such as ${ACTIVITY_CHOICES[0]!.key} or DS100_OTP_DISABLE_SUCCESS`);
    filter.activity = { operation: choice.operation, outcomes: choice.outcomes };
  }
  if (f.from !== undefined) filter.from = trailTime('from', f.from, false);
  if (f.to !== undefined) filter.to = trailTime('to', f.to, true);
  return filter;
}

/** Events on one page of the activity page. */
export const ADMIN_LOG_PAGE_SIZE = 50;

/** Where a page of the admin log starts: after the newest events (none), before an event, or after one. */
export type LogCursor = { before?: number; after?: number };

export interface AdminLogPage {
  /** Newest first. */
  events: StoredAuditEvent[];
  /** The cursor of the page of newer events (`after`), or null when there are none. */
  newer: number | null;
  /** The cursor of the page of older events (`before`), or null when there are none. */
  older: number | null;
}

/**
 * One page of the admin log, newest first, of the events `filter` selects: by keyset, so a page
 * stays the same while events are written, and any page costs one walk of the index from its
 * cursor. The page after `after` is read oldest first and turned round.
 */
export async function adminLogPage(store: Store, filter: AuditFilter, cursor: LogCursor = {}, size = ADMIN_LOG_PAGE_SIZE): Promise<AdminLogPage> {
  const search = { ...filter, adminLog: true };
  const any = async (where: { afterSeq: number } | { beforeSeq: number }) =>
    (await store.searchAudit({ ...search, ...where, order: 'afterSeq' in where ? 'oldest' : 'newest', limit: 1 })).length > 0;
  if (cursor.after !== undefined) {
    const found = await store.searchAudit({ ...search, afterSeq: cursor.after, order: 'oldest', limit: size + 1 });
    const events = found.slice(0, size).reverse();
    const last = events.at(-1)?.seq ?? cursor.after + 1;
    return { events, newer: found.length > size ? events[0]!.seq : null, older: (await any({ beforeSeq: last })) ? last : null };
  }
  const found = await store.searchAudit({ ...search, ...(cursor.before !== undefined ? { beforeSeq: cursor.before } : {}), order: 'newest', limit: size + 1 });
  const events = found.slice(0, size);
  const first = events[0]?.seq ?? (cursor.before ?? 1) - 1;
  const newer = cursor.before !== undefined && (await any({ afterSeq: first })) ? first : null;
  return { events, newer, older: found.length > size ? events.at(-1)!.seq : null };
}

/**
 * The trail oldest first, a page at a time, as `ds100-admin audit` prints it: the events
 * `filter` selects, `since` and `limit` as `AuditQuery` says (see `auditPagesOf`).
 */
export function trailPages(store: Store, filter: AuditFilter, query: AuditQuery = {}): AsyncGenerator<StoredAuditEvent[]> {
  return auditPagesOf(
    (afterSeq, since, size) => {
      const from = since && !(filter.from !== undefined && filter.from > since) ? since : filter.from;
      return store.searchAudit({ ...filter, afterSeq, ...(from !== undefined ? { from } : {}), order: 'oldest', limit: size });
    },
    query,
  );
}
