import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { KeyFile } from '../../src/auth/keyfile.ts';
import { makeKeyService } from '../../src/auth/keys.ts';
import { systemClock, type Clock } from '../../src/domain/clock.ts';
import { demoRegistrations, demoUsers } from '../../src/domain/demo-seed.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import { ROLES, type Actor, type Role } from '../../src/domain/types.ts';
import { REDACTED_PATHS, buildApp, type AppOptions, type ConnectionLimits, type RateLimits, type TrustedProxies } from '../../src/http/app.ts';
import type { Store } from '../../src/domain/store.ts';
import { openTestStore, type Engine, type TestStore } from './stores.ts';

export const API = '/AdminInterface/restapi';
const seeder: Actor = { kind: 'operator', subject: 'test-seed', role: null, clientAddress: 'local', requestId: null };

export interface TestKey {
  keyFile: KeyFile;
  privateKey: KeyObject;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
}

export interface RequestOptions {
  /** Sign as this role's key (default HelpDeskAdmin); ignored when `token` or `authorization` is given. */
  role?: Role;
  token?: string;
  /** The whole Authorization header, or null for none. */
  authorization?: string | null;
  /** A raw body sent as is; otherwise `body` is JSON-encoded. */
  rawBody?: string;
  contentType?: string | null;
  headers?: Record<string, string>;
}

export interface TestServer {
  /** http://127.0.0.1:PORT (or `publicHost` instead of 127.0.0.1) */
  url: string;
  store: Store;
  /** Where the store lives (`TestStore.location`). */
  location: TestStore['location'];
  app: ReturnType<typeof buildApp>;
  keys: Record<Role, TestKey>;
  /** Signs a token for `key` (default: the HelpDeskAdmin key); claims and header may be overridden. */
  sign(options?: { key?: TestKey; claims?: Record<string, unknown>; header?: Record<string, unknown> }): Promise<string>;
  request(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

export interface StartOptions {
  engine?: Engine;
  /** Load the vendor examples' directory (`serve --demo`). */
  demo?: boolean;
  rateLimits?: RateLimits;
  clock?: Clock;
  tokenCacheSize?: number;
  /** Check signatures on a worker thread, as `serve` does. */
  signatureThread?: boolean;
  /** Connection cap and timeouts (overload tests use small ones). */
  connections?: Partial<ConnectionLimits>;
  /** Receives the server's log lines (pino JSON, with the same redaction as `serve`). */
  logLines?: string[];
  /** `serve --trust-proxy`: the proxies whose X-Forwarded-For entries are taken. */
  trustProxy?: TrustedProxies;
  /**
   * The host name of the public URL (default 127.0.0.1); the server listens on 127.0.0.1 all the
   * same. The console's tests use `localhost`: WebAuthn wants a secure context, and a relying
   * party id that is a name.
   */
  publicHost?: 'localhost' | '127.0.0.1';
  /** The console's settings (`buildApp`'s `console`): its bundle, its sign-in limits, or false. */
  console?: AppOptions['console'];
}

const GENEROUS: RateLimits = {
  perKey: { capacity: 1_000_000, windowSeconds: 60 },
  perAddress: { capacity: 1_000_000, windowSeconds: 60 },
};

/** Loads the demo directory into a store, as `serve --demo` does. */
export async function seedDemo(store: Store, clock: Clock = systemClock): Promise<void> {
  const directory = makeDirectoryService({ store, clock });
  for (const u of demoUsers) await directory.addUser(seeder, u);
  for (const r of demoRegistrations) await directory.register(seeder, r);
}

/**
 * A real server on a loopback port over a fresh store, with one key per role. Requests go over
 * real HTTP with fetch.
 */
export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const clock = options.clock ?? systemClock;
  const { store, dispose, location } = await openTestStore(options.engine, options.clock ? { clock } : {});
  let url = '';
  const app = buildApp({
    store,
    clock,
    publicUrl: () => url,
    rateLimits: options.rateLimits ?? GENEROUS,
    ...(options.tokenCacheSize !== undefined ? { tokenCacheSize: options.tokenCacheSize } : {}),
    ...(options.signatureThread ? { signatureThread: true } : {}),
    ...(options.connections ? { connections: options.connections } : {}),
    ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
    ...(options.console !== undefined ? { console: options.console } : {}),
    ...(options.logLines ? { logger: { level: 'info', redact: REDACTED_PATHS, stream: { write: (line: string) => void options.logLines!.push(line) } } } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  url = `http://${options.publicHost ?? '127.0.0.1'}:${typeof address === 'object' && address ? address.port : 0}`;

  const keyService = makeKeyService({ store, clock, publicUrl: url });
  const keys = {} as Record<Role, TestKey>;
  for (const role of ROLES) {
    const { keyFile } = await keyService.create(seeder, role, `test ${role}`);
    keys[role] = { keyFile, privateKey: createPrivateKey(keyFile.accessKey) };
  }
  if (options.demo) await seedDemo(store, clock);

  const sign: TestServer['sign'] = async ({ key = keys.HelpDeskAdmin, claims = {}, header = {} } = {}) => {
    const now = Math.floor(clock.now() / 1000);
    const payload = { sub: key.keyFile.accessID, iat: now, exp: now + 600, aud: `${url}${API}`, ...claims };
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete (payload as Record<string, unknown>)[k];
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...header } as { alg: string }).sign(key.privateKey);
  };

  const tokens = new Map<Role, string>();
  const request: TestServer['request'] = async (method, path, body, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    let authorization = o.authorization;
    if (authorization === undefined) {
      let token = o.token;
      if (!token) {
        const role = o.role ?? 'HelpDeskAdmin';
        token = tokens.get(role) ?? (await sign({ key: keys[role] }));
        tokens.set(role, token);
      }
      authorization = `Bearer ${token}`;
    }
    if (authorization !== null) headers.authorization = authorization;
    const payload = o.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
    if (payload !== undefined && o.contentType !== null) headers['content-type'] = o.contentType ?? 'application/json';
    const res = await fetch(`${url}${path.startsWith('/v1') ? API + path : path}`, { method, headers, body: payload });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };

  return {
    url,
    store,
    location,
    app,
    keys,
    sign,
    request,
    async close() {
      await app.close();
      await dispose();
    },
  };
}
