/**
 * The console's JSON calls as a browser makes them, without a browser: a cookie jar, the Origin
 * header, the CSRF token of the session, and a software authenticator for enrolment and sign-in.
 */
import type { TestServer, Reply } from './server.ts';
import { softAuthenticator, type SoftAuthenticator } from './authenticator.ts';
import { makeAdminService } from '../../src/auth/admins.ts';
import { systemClock, type Clock } from '../../src/domain/clock.ts';
import type { Actor, Role } from '../../src/domain/types.ts';

export const operator: Actor = { kind: 'operator', subject: 'cli:test', role: null, clientAddress: 'local', requestId: null };

export interface CallOptions {
  /** The Origin header: the server's own by default, null for none. */
  origin?: string | null;
  /** The CSRF header: the session's by default, null for none. */
  csrf?: string | null;
  /** The session cookie: the jar's by default, null for none. */
  cookie?: string | null;
  headers?: Record<string, string>;
}

export interface ConsoleClient {
  authenticator: SoftAuthenticator;
  /** The session cookie's value, once signed in. */
  session: string | undefined;
  csrf: string | undefined;
  call(method: string, path: string, body?: unknown, o?: CallOptions): Promise<Reply>;
  /** Enrols through an invite link with a new passkey, and is then signed in. */
  enrol(link: string): Promise<Reply>;
  /** Signs in with the passkey enrolled (optionally naming the e-mail address). */
  signIn(email?: string, o?: CallOptions): Promise<Reply>;
}

export function consoleClient(server: TestServer, authenticator = softAuthenticator(server.url)): ConsoleClient {
  const client: ConsoleClient = {
    authenticator,
    session: undefined,
    csrf: undefined,
    async call(method, path, body, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const origin = o.origin === undefined ? server.url : o.origin;
      if (origin !== null) headers.origin = origin;
      const csrf = o.csrf === undefined ? client.csrf : o.csrf;
      if (csrf) headers['x-csrf-token'] = csrf;
      const cookie = o.cookie === undefined ? client.session : o.cookie;
      if (cookie) headers.cookie = `ds100_console=${cookie}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${server.url}/console/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual' });
      // A call made with a cookie of its own choosing leaves the jar alone.
      for (const line of o.cookie === undefined ? res.headers.getSetCookie() : []) {
        const m = /^ds100_console=([^;]*)/.exec(line);
        if (m) client.session = m[1] || undefined;
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      const reply = { status: res.status, headers: res.headers, text, json };
      const token = (json as { csrfToken?: unknown } | undefined)?.csrfToken;
      if (res.status === 200 && typeof token === 'string') client.csrf = token;
      return reply;
    },
    async enrol(link) {
      const token = link.split('#/enrol/')[1]!;
      const options = await client.call('POST', '/enrol/options', { token });
      if (options.status !== 200) return options;
      const credential = authenticator.create((options.json as { publicKey: Parameters<SoftAuthenticator['create']>[0] }).publicKey);
      return client.call('POST', '/enrol', { token, credential });
    },
    async signIn(email, o = {}) {
      const options = await client.call('POST', '/signin/options', email ? { email } : {}, o);
      if (options.status !== 200) return options;
      const credential = authenticator.get((options.json as { publicKey: Parameters<SoftAuthenticator['get']>[0] }).publicKey);
      return client.call('POST', '/signin', { credential }, o);
    },
  };
  return client;
}

/** Invites an administrator as `admins invite` does, and gives the link. */
export async function invite(server: TestServer, email: string, role: Role, clock: Clock = systemClock): Promise<string> {
  const service = makeAdminService({ store: server.store, clock, publicUrl: () => server.url });
  return (await service.invite(operator, { email, role })).link;
}

/** A console client signed in as a new administrator of `role`. */
export async function signedInAs(server: TestServer, email: string, role: Role, clock: Clock = systemClock): Promise<ConsoleClient> {
  const client = consoleClient(server);
  const enrolled = await client.enrol(await invite(server, email, role, clock));
  if (enrolled.status !== 200) throw new Error(`enrolment of ${email} failed: ${enrolled.status} ${enrolled.text}`);
  return client;
}
