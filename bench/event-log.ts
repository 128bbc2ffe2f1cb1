/**
 * The event log at scale (contract 11): a trail of `events` audit events written through the
 * store's commit path, then, against a real `serve`, pageSize 100 at page 0 and at the last page
 * (p99 of each), and the whole trail exported through the API page after page by one client.
 */
import { join } from 'node:path';
import { auditEvent } from '../src/domain/audit.ts';
import type { Actor } from '../src/domain/types.ts';
import { openSqliteStore } from '../src/store/sqlite/index.ts';
import { API, createKey, load, signToken, startServer, type Figures } from './lib.ts';

const actor: Actor = { kind: 'administrator', subject: 'bench-help-desk', role: 'HelpDeskAdmin', clientAddress: '10.1.2.3', requestId: null };
const WRITE_BATCH = 5000;

async function writeTrail(file: string, events: number): Promise<number> {
  const started = performance.now();
  const store = await openSqliteStore({ file });
  try {
    for (let done = 0; done < events; done += WRITE_BATCH) {
      const n = Math.min(WRITE_BATCH, events - done);
      const at = new Date().toISOString();
      await store.transaction(async (tx) => {
        for (let i = 0; i < n; i++) {
          const k = done + i;
          await tx.appendAudit(
            auditEvent(actor, at, k % 2 === 0 ? 'ds100.disable' : 'ds100.enable', { userId: `u-${k % 50_000}`, deviceSerialNumber: String(200_000_000 + (k % 50_000)) }, 'changed', 200),
          );
        }
      });
    }
  } finally {
    await store.close();
  }
  return (performance.now() - started) / 1000;
}

export interface EventLogFigures {
  rows: Figures[];
  events: number;
  writeSeconds: number;
  exportSeconds: number;
  exported: number;
}

export async function eventLogBench(work: string, { events, duration, connections }: { events: number; duration: number; connections: number }): Promise<EventLogFigures> {
  const dir = join(work, 'event-log');
  const start = new Date(Date.now() - 1000).toISOString();
  console.log(`event log: writing ${events.toLocaleString('en')} audit events through the store`);
  const writeSeconds = await writeTrail(join(dir, 'ds100-admin.db'), events);
  const end = new Date().toISOString();
  const server = await startServer(dir);
  try {
    const key = await createKey(dir, server.url, ['--role', 'ReadOnly']);
    const token = signToken(key);
    const headers = { authorization: `Bearer ${token}` };
    const pathOf = (page: number) =>
      `${API}/v1/adminlog/exportlogs?startTimeAfter=${encodeURIComponent(start)}&endTimeOnOrBefore=${encodeURIComponent(end)}&pageNumber=${page}&pageSize=100`;
    const lastPage = Math.ceil(events / 100) - 1;
    const rows: Figures[] = [];
    for (const page of [0, lastPage]) {
      const scenario = { name: `export page ${page} of ${events.toLocaleString('en')}`, url: server.url, connections, expectStatus: 200, request: () => ({ method: 'GET' as const, path: pathOf(page), headers }) };
      await load({ ...scenario, duration: Math.min(2, duration) });
      rows.push(await load({ ...scenario, duration }));
    }
    // One collector, page after page until an empty one, as the SIEM collectors read.
    const started = performance.now();
    let exported = 0;
    for (let page = 0; ; page++) {
      const res = await fetch(`${server.url}${pathOf(page)}`, { headers });
      if (res.status !== 200) throw new Error(`page ${page}: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { elements: unknown[] };
      if (body.elements.length === 0) break;
      exported += body.elements.length;
    }
    const exportSeconds = (performance.now() - started) / 1000;
    console.log(`event log: wrote ${events} events in ${writeSeconds.toFixed(1)} s; exported ${exported} through the API in ${exportSeconds.toFixed(1)} s`);
    return { rows, events, writeSeconds, exportSeconds, exported };
  } finally {
    await server.stop();
  }
}
