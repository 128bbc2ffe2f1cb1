import type { FastifyInstance, FastifyRequest } from 'fastify';
import { endpoints } from '../../contract/endpoints.ts';
import type { Store } from '../../domain/store.ts';
import type { StoredAuditEvent } from '../../domain/types.ts';
import { apiError } from '../../errors.ts';
import { nameSubjects } from './directory.ts';
import { API_PATH, type ConsoleGuards } from './session.ts';

/** Events on one page of the activity list. */
export const ACTIVITY_PAGE_SIZE = 50;
/** Pages further back than this are not offered: a filter narrows a search better. */
export const ACTIVITY_MAX_PAGES = 200;

export interface ActivityFilter {
  /** A user's id or e-mail address, as the event's target names it. */
  user?: string;
  /** The subject who acted: an administrator's id (or e-mail address), an API key's access id, an OAuth client's id, `cli:<name>`. */
  admin?: string;
  operation?: string;
  /** ISO 8601 bounds of `at`, inclusive. */
  from?: string;
  to?: string;
}

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z?)?$/;

export function matches(e: StoredAuditEvent, f: ActivityFilter): boolean {
  if (f.user && e.target.userId !== f.user && e.target.email?.toLowerCase() !== f.user.toLowerCase()) return false;
  if (f.admin && e.subject !== f.admin) return false;
  if (f.operation && e.operation !== f.operation) return false;
  if (f.from && e.at < f.from) return false;
  // A bare date as `to` means the whole of that day.
  if (f.to && e.at > (f.to.length === 10 ? `${f.to}T23:59:59.999Z` : f.to)) return false;
  return true;
}

/**
 * One page of the trail, newest first, of the events that match. The trail is read oldest first
 * in keyset pages (`store.auditPages`, from `from` on) and only the newest `(page + 1) * size`
 * matches are kept, so memory is bounded by the page asked for, not by the trail.
 */
export async function activityPage(store: Store, filter: ActivityFilter, page: number, size = ACTIVITY_PAGE_SIZE) {
  const keep = (page + 1) * size;
  let newest: StoredAuditEvent[] = [];
  let total = 0;
  for await (const events of store.auditPages(filter.from ? { since: filter.from } : {})) {
    for (const e of events) {
      if (!matches(e, filter)) continue;
      total++;
      newest.push(e);
    }
    if (newest.length > 2 * keep) newest = newest.slice(-keep);
  }
  const ordered = newest.slice(-keep).reverse();
  return { events: ordered.slice(page * size, (page + 1) * size), total, page, pageSize: size };
}

/** The activity page's call: the admin log, filtered, newest first, a page at a time. */
export function registerActivityRoute(app: FastifyInstance, { guards, store }: { guards: ConsoleGuards; store: Store }): void {
  const text = (request: FastifyRequest, name: string): string | undefined => {
    const v = (request.query as Record<string, unknown>)[name];
    if (typeof v !== 'string' || v.trim() === '') return undefined;
    if (v.length > 254) throw apiError('INVALID_PROPERTY', name, 'must be at most 254 characters');
    return v.trim();
  };
  app.get(`${API_PATH}/activity`, { onRequest: guards.signedIn({ roles: endpoints.lookupUser.roles }) }, async (request) => {
    const filter: ActivityFilter = {};
    for (const name of ['user', 'admin', 'operation', 'from', 'to'] as const) {
      const v = text(request, name);
      if (v === undefined) continue;
      if ((name === 'from' || name === 'to') && !ISO.test(v)) throw apiError('INVALID_PROPERTY', name, 'must be a date (2025-01-31) or an ISO 8601 time');
      filter[name] = v;
    }
    const pageText = text(request, 'page') ?? '0';
    const page = Number(pageText);
    if (!/^\d+$/.test(pageText) || page >= ACTIVITY_MAX_PAGES) throw apiError('INVALID_PROPERTY', 'page', `must be a whole number below ${ACTIVITY_MAX_PAGES}`);
    if (filter.admin?.includes('@')) filter.admin = (await store.adminByEmail(filter.admin))?.id ?? filter.admin;
    const [found, name] = await Promise.all([activityPage(store, filter, page), nameSubjects(store)]);
    return { ...found, events: found.events.map((e) => ({ ...e, subjectName: name(e.subject) })) };
  });
}
