import type { FastifyInstance, FastifyRequest } from 'fastify';
import { endpoints } from '../../contract/endpoints.ts';
import { ACTIVITY_CHOICES, OPERATIONS } from '../../domain/activity.ts';
import { adminLogView } from '../../domain/event-log.ts';
import type { Store } from '../../domain/store.ts';
import type { StoredAuditEvent } from '../../domain/types.ts';
import { adminLogPage, trailFilter, type LogCursor, type TrailFilter } from '../../domain/trail.ts';
import { apiError } from '../../errors.ts';
import { nameSubjects } from './directory.ts';
import { API_PATH, type ConsoleGuards } from './session.ts';

/**
 * The activity filter's choices, grouped by operation as the admin log's table lists them: the
 * group's name is the keys' common stem (`DS100_OTP_ENABLE`), or the key itself for the console's
 * sign-in and sign-out.
 */
function activityGroups(): Array<{ group: string; keys: string[] }> {
  const groups = new Map<string, string[]>();
  for (const c of ACTIVITY_CHOICES) {
    const group = OPERATIONS[c.operation]?.stem ?? 'Console';
    groups.set(group, [...(groups.get(group) ?? []), c.key]);
  }
  return [...groups].map(([group, keys]) => ({ group, keys }));
}

/** An event as the activity page shows it: the admin log's own words, its call's time, and the administrator's name. */
function activityEvent(e: StoredAuditEvent, adminName: string | null) {
  const { targets, ...view } = adminLogView(e);
  return { ...view, at: e.at, adminName, targets: targets.filter((t) => t !== null) };
}
/** What `GET /console/api/activity` answers for each event (the page and its tests read it). */
export type ActivityEvent = ReturnType<typeof activityEvent>;

/**
 * The activity page's calls: the admin log through the trail's one query (`domain/trail.ts`),
 * filtered by user, administrator, activity key and time, newest first, a page at a time; each
 * event as the admin log shows it, with the administrator's name beside their id.
 */
export function registerActivityRoute(app: FastifyInstance, { guards, store }: { guards: ConsoleGuards; store: Store }): void {
  const readers = guards.signedIn({ roles: endpoints.lookupUser.roles });
  const text = (request: FastifyRequest, name: string): string | undefined => {
    const v = (request.query as Record<string, unknown>)[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw apiError('INVALID_PROPERTY', name, 'must be given once');
    if (v.length > 254) throw apiError('INVALID_PROPERTY', name, 'must be at most 254 characters');
    return v.trim() === '' ? undefined : v.trim();
  };
  const seq = (request: FastifyRequest, name: string): number | undefined => {
    const v = text(request, name);
    if (v === undefined) return undefined;
    if (!/^\d{1,15}$/.test(v)) throw apiError('INVALID_PROPERTY', name, 'must be an event id');
    return Number(v);
  };

  const groups = activityGroups();
  app.get(`${API_PATH}/activity/keys`, { onRequest: readers }, async () => ({ groups }));

  app.get(`${API_PATH}/activity`, { onRequest: readers }, async (request) => {
    const typed: TrailFilter = {};
    for (const name of ['user', 'admin', 'activity', 'from', 'to'] as const) {
      const v = text(request, name);
      if (v !== undefined) typed[name] = v;
    }
    const before = seq(request, 'before');
    const after = seq(request, 'after');
    if (before !== undefined && after !== undefined) throw apiError('INVALID_PROPERTY', 'after', 'cannot be given with before');
    const cursor: LogCursor = before !== undefined ? { before } : after !== undefined ? { after } : {};
    const filter = await trailFilter(store, typed, { adminLog: true });
    const [page, name] = await Promise.all([adminLogPage(store, filter, cursor), nameSubjects(store)]);
    return {
      events: page.events.map((e) => activityEvent(e, name(e.subject))),
      newer: page.newer,
      older: page.older,
    };
  });
}
