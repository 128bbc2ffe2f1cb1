/**
 * Crash durability (issue 6, suite 4). A few clients keep writing (enable/disable of their own
 * DS100, clear-PIN then delete of their own credentials) and re-reading what they wrote, while
 * the server process is SIGKILLed at a random moment (seeded), many times, and restarted on the
 * same data folder (SQLite) or schema (PostgreSQL).
 *
 * What durability promises, and what is asserted after each restart: each resource has one client,
 * whose requests on it are sequential, so at the kill it has a last acknowledged request (200)
 * and at most one request without an answer, which may or may not have committed. The store must
 * hold the state of the last acknowledged change, or of the unanswered request that followed it,
 * nothing else; the audit trail must hold the event of every acknowledged request, in the order
 * sent, plus at most the unanswered one, and no other; and the stored state must be the one the
 * trail's last `changed` event names, with each 200 body equal to the state its event left.
 *
 * SIGKILL ends the process, not the machine: it proves no answer goes out before its commit, not
 * that the commit reached the platter (for that, synchronous=FULL and PostgreSQL's fsync).
 * Audit events of reads are buffered by design (store.ts) and may die with the process: they are
 * counted, not asserted.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { StoredAuditEvent } from '../../src/domain/types.ts';
import type { ServeProcess } from '../support/serve-process.ts';
import {
  ENGINE, SEED, STRESS, all, call, deploy, expectedItems, lastAcked, makeDirectory, matchOwned, pairEvents, prng, replayPair, sleep, statusItems,
  targetOf, toggle, type Deletable, type Deployment, type OwnedOp, type Pair, type PairState,
} from '../support/reliability.ts';
import type { StatusItem } from '../../src/domain/credentials.ts';

const KILLS = STRESS ? 60 : 5;
const CLIENTS = STRESS ? 6 : 4;
const DELETABLES_PER_CLIENT = STRESS ? 40 : 8;
/** The kill comes this long after the load starts: a seeded random moment in [MIN, MIN + SPREAD). */
const KILL_MIN_MS = 15;
const KILL_SPREAD_MS = STRESS ? 600 : 300;

type CredState = 'pinned' | 'cleared' | 'gone';

let deployment: Deployment | undefined;
after(async () => {
  await deployment?.dispose();
});

interface Client {
  pair: Pair;
  deletables: Deletable[];
  /** Index of the deletable being worked on. */
  cursor: number;
  /** The pair's state as the client knows it (exact between kills). */
  pairState: PairState;
  creds: Map<string, CredState>;
}

test(`SIGKILL under write load, ${KILLS} times, restart, nothing acknowledged lost (${ENGINE})`, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const directory = makeDirectory(CLIENTS, CLIENTS * DELETABLES_PER_CLIENT);
  deployment = await deploy(ENGINE, directory);
  const d = deployment;
  const clients: Client[] = directory.pairs.map((pair, c) => ({
    pair,
    deletables: directory.deletables.slice(c * DELETABLES_PER_CLIENT, (c + 1) * DELETABLES_PER_CLIENT),
    cursor: 0,
    pairState: { status: pair.initial, changedAt: null, changedBy: null },
    creds: new Map(directory.deletables.slice(c * DELETABLES_PER_CLIENT, (c + 1) * DELETABLES_PER_CLIENT).map((x) => [x.key, 'pinned'])),
  }));
  const ops = new Map<string, OwnedOp[]>();
  const record = (op: OwnedOp) => (ops.get(op.resource) ?? ops.set(op.resource, []).get(op.resource)!).push(op);
  const figures = { requests: 0, acked: 0, unanswered: 0, unansweredCommitted: 0, reads: 0, kills: 0 };
  const killRandom = prng(SEED);

  /** One round of load on `server` until `killed()`; failures are returned. */
  async function load(server: ServeProcess, token: string, killed: () => boolean, round: number): Promise<string[]> {
    const failures: string[] = [];
    const subject = d.subject!;
    await all(CLIENTS, async (c) => {
      const client = clients[c]!;
      const random = prng(SEED + 1000 * (round + 1) + c);
      while (!killed()) {
        const roll = random();
        const cred = client.deletables[client.cursor];
        if (roll < 0.55 || (roll < 0.8 && !cred)) {
          // Enable or disable the client's own DS100.
          const op = toggle(client.pair, random() < 0.5 ? 'Enabled' : 'Disabled');
          figures.requests++;
          const r = await call(server.url, token, op.method, op.path, op.body);
          if ('error' in r || r.status !== 200) {
            if ('error' in r && killed()) {
              figures.unanswered++;
              record({ resource: client.pair.key, operation: op.operation, outcome: 'ambiguous', requestId: null });
              return;
            }
            return void failures.push(`client ${c} ${op.operation}: ${'error' in r ? r.error : `${r.status} ${r.text}`}`);
          }
          figures.acked++;
          record({ resource: client.pair.key, operation: op.operation, outcome: 'acked', requestId: r.requestId, json: r.json });
          const target = targetOf(op.operation);
          if (client.pairState.status !== target) {
            const changedAt = (r.json as StatusItem[])[0]?.tokenStatusChangedAt ?? null;
            client.pairState = { status: target, changedAt, changedBy: subject };
          }
          // Unchanged: the answer shows the earlier change; changed: this one, by this key.
          const want = expectedItems(client.pair, client.pairState);
          if (JSON.stringify(r.json) !== JSON.stringify(want) || (client.pairState.status !== client.pair.initial && client.pairState.changedAt === null)) {
            failures.push(`client ${c} ${op.operation}: answered ${r.text}, expected ${JSON.stringify(want)}`);
          }
        } else if (roll < 0.8 && cred) {
          // Clear the PIN of the current credential, then delete it.
          const state = client.creds.get(cred.key)!;
          const clear = state === 'pinned';
          const operation = clear ? 'ds100.clearPin' : 'ds100.delete';
          figures.requests++;
          const r = clear
            ? await call(server.url, token, 'PATCH', '/v1/ds100/clearPin/otp', { tokenSerialNumber: cred.token, userId: cred.userId })
            : await call(server.url, token, 'DELETE', '/v1/ds100/delete/otp', { tokenSerialNumber: cred.token, deviceSerialNumber: cred.device, userId: cred.userId });
          if ('error' in r || r.status !== 200) {
            if ('error' in r && killed()) {
              figures.unanswered++;
              record({ resource: cred.key, operation, outcome: 'ambiguous', requestId: null });
              return;
            }
            return void failures.push(`client ${c} ${operation} ${cred.token}: ${'error' in r ? r.error : `${r.status} ${r.text}`}`);
          }
          figures.acked++;
          record({ resource: cred.key, operation, outcome: 'acked', requestId: r.requestId, json: r.json });
          if (clear) {
            if (JSON.stringify(r.json) !== JSON.stringify({ tokenSerialNumber: cred.token, pinSet: false })) failures.push(`client ${c} clearPin: ${r.text}`);
            client.creds.set(cred.key, 'cleared');
          } else {
            if (r.text !== '') failures.push(`client ${c} delete: ${r.text}`);
            client.creds.set(cred.key, 'gone');
            client.cursor++;
          }
        } else {
          // Re-read something the client wrote: the live server shows the client's last acknowledged change.
          const candidates = [client.pair, cred, client.deletables[client.cursor - 1]].filter((x) => x !== undefined);
          const target = candidates[Math.floor(random() * candidates.length)]!;
          figures.reads++;
          const r = await call(server.url, token, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: target.device });
          if ('error' in r) {
            if (killed()) return;
            return void failures.push(`client ${c} lookup: ${r.error}`);
          }
          const problem = 'tokens' in target ? readProblem(target, client.pairState, r) : credReadProblem(target, client.creds.get(target.key)!, r);
          if (problem) failures.push(`client ${c}, round ${round}: ${problem}`);
        }
      }
    });
    return failures;
  }

  /** After a restart: the store and the trail against what the clients saw. */
  async function verify(server: ServeProcess, token: string, where: string): Promise<void> {
    const trail = await d.trail();
    const subject = d.subject!;
    // Over the whole history so far: the last verification's count is the run's.
    let unansweredCommitted = 0;
    for (const client of clients) {
      // The DS100: committed requests, their bodies, the stored state.
      const pair = client.pair;
      const pairOps = ops.get(pair.key) ?? [];
      const events = pairEvents(trail, pair, subject);
      const committed = matchOwned(pair.key, pairOps, events);
      const opOf = new Map<StoredAuditEvent, OwnedOp>(committed.map((m) => [m.event, m.op]));
      const { state } = replayPair(pair, events, (e, st) => {
        const op = opOf.get(e)!;
        if (op.outcome === 'acked') assert.deepEqual(op.json, expectedItems(pair, st), `${where}: body of request ${e.requestId}`);
      });
      unansweredCommitted += committed.filter((m) => m.op.outcome === 'ambiguous').length;
      const r = await call(server.url, token, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: pair.device });
      assert.ok('status' in r && r.status === 200, `${where}: lookup ${pair.device}: ${JSON.stringify(r)}`);
      const stored = statusItems((r.json as StatusItem[]).filter((x) => x.userId === pair.userId).sort((a, b) => a.tokenSerialNumber.localeCompare(b.tokenSerialNumber)));
      assert.deepEqual(stored, expectedItems(pair, state), `${where}: ${pair.key} holds the state of its last changed event`);
      // The client's own view: the last acknowledged state, or that of a request in flight after it.
      const acked = lastAcked(pairOps);
      const allowed = new Set([acked >= 0 ? targetOf(pairOps[acked]!.operation) : pair.initial]);
      for (const o of pairOps.slice(acked + 1)) allowed.add(targetOf(o.operation));
      assert.ok(allowed.has(state.status), `${where}: ${pair.key} is ${state.status}; acknowledged or in flight: ${[...allowed].join(', ')}`);
      client.pairState = state;

      // The credentials the client touched, and the next one, untouched.
      for (const cred of client.deletables.slice(0, client.cursor + 2)) {
        const credOps = ops.get(cred.key) ?? [];
        const credEvents = trail.filter(
          (e) => e.subject === subject && e.status === 200 && (e.operation === 'ds100.clearPin' || e.operation === 'ds100.delete') && e.target.tokenSerialNumber === cred.token,
        );
        unansweredCommitted += matchOwned(cred.key, credOps, credEvents).filter((m) => m.op.outcome === 'ambiguous').length;
        let replayed: CredState = 'pinned';
        for (const e of credEvents) {
          assert.notEqual(replayed, 'gone', `${where}: ${cred.key}: an event after the delete`);
          const real: boolean = e.operation === 'ds100.delete' || replayed === 'pinned';
          assert.equal(e.outcome, real ? 'changed' : 'unchanged', `${where}: ${cred.key}: ${e.operation} seq ${e.seq}`);
          replayed = e.operation === 'ds100.delete' ? 'gone' : 'cleared';
        }
        const lookup = await call(server.url, token, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: cred.device });
        assert.ok('status' in lookup && (lookup.status === 404 || lookup.status === 200), `${where}: lookup ${cred.device}: ${JSON.stringify(lookup)}`);
        const storedState: CredState =
          lookup.status === 404 ? 'gone' : (lookup.json as Array<{ pinSet: boolean }>)[0]?.pinSet ? 'pinned' : 'cleared';
        assert.equal(storedState, replayed, `${where}: ${cred.key} is what its trail says`);
        const credAcked = lastAcked(credOps);
        const after = (o: OwnedOp): CredState => (o.operation === 'ds100.delete' ? 'gone' : 'cleared');
        const credAllowed = new Set<CredState>([credAcked >= 0 ? after(credOps[credAcked]!) : 'pinned']);
        for (const o of credOps.slice(credAcked + 1)) credAllowed.add(after(o));
        assert.ok(credAllowed.has(storedState), `${where}: ${cred.key} is ${storedState}; acknowledged or in flight: ${[...credAllowed].join(', ')}`);
        client.creds.set(cred.key, storedState);
      }
      while (client.creds.get(client.deletables[client.cursor]?.key ?? '') === 'gone') client.cursor++;
    }
    figures.unansweredCommitted = unansweredCommitted;
  }

  for (let round = 0; round <= KILLS; round++) {
    const server = await d.start();
    const token = await d.token();
    if (round > 0) await verify(server, token, `after kill ${round}`);
    if (round === KILLS) break;
    let killed = false;
    const delay = KILL_MIN_MS + Math.floor(killRandom() * KILL_SPREAD_MS);
    const running = load(server, token, () => killed, round);
    await sleep(delay);
    killed = true;
    server.child.kill('SIGKILL');
    const exit = await server.exited;
    assert.equal(exit.signal, 'SIGKILL', `round ${round}: the server was killed, not ended otherwise: ${server.stderr()}`);
    figures.kills++;
    assert.deepEqual(await running, [], `round ${round}: only 200s and faithful reads before the kill`);
  }
  assert.ok(figures.acked >= KILLS, `enough acknowledged writes to mean something (${figures.acked})`);
  t.diagnostic(
    `${figures.kills} kills survived; ${figures.requests} writes sent, ${figures.acked} acknowledged (all found), ` +
      `${figures.unanswered} unanswered at a kill (${figures.unansweredCommitted} of them committed), ${figures.reads} re-reads; 0 lost`,
  );
});

/** What is wrong with a lookup of the client's DS100, given its last acknowledged state. */
function readProblem(pair: Pair, state: PairState, r: { status: number; json: unknown; text: string }): string | null {
  if (r.status !== 200) return `lookup ${pair.device}: ${r.status} ${r.text}`;
  const items = statusItems((r.json as StatusItem[]).filter((x) => x.userId === pair.userId).sort((a, b) => a.tokenSerialNumber.localeCompare(b.tokenSerialNumber)));
  const want = expectedItems(pair, state);
  return JSON.stringify(items) === JSON.stringify(want) ? null : `lookup ${pair.device}: read ${JSON.stringify(items)}, acknowledged ${JSON.stringify(want)}`;
}

/** What is wrong with a lookup of one of the client's credentials. */
function credReadProblem(cred: Deletable, state: CredState, r: { status: number; json: unknown; text: string }): string | null {
  if (state === 'gone') return r.status === 404 ? null : `lookup of deleted ${cred.token}: ${r.status} ${r.text}`;
  if (r.status !== 200) return `lookup ${cred.device}: ${r.status} ${r.text}`;
  const pinSet = (r.json as Array<{ pinSet: boolean }>)[0]?.pinSet;
  return pinSet === (state === 'pinned') ? null : `lookup ${cred.token}: pinSet ${pinSet}, acknowledged ${state}`;
}
