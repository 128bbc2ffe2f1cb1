import { createHash, createHmac, randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type AuthenticatorTransport, type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON, type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { auditEvent } from '../domain/audit.ts';
import type { Clock } from '../domain/clock.ts';
import { newId } from '../domain/ids.ts';
import type { Store, StoreTx } from '../domain/store.ts';
import { ROLES, type Actor, type Admin, type AuditOutcome, type ConsoleSession, type Role } from '../domain/types.ts';
import { checkEmail } from '../domain/values.ts';
import { ApiError, apiError } from '../errors.ts';

/** How long an enrolment link works. */
export const INVITE_LIFETIME_MS = 24 * 3600_000;
/** A session unused this long is over. */
export const SESSION_IDLE_MS = 15 * 60_000;
/** A session is over this long after sign-in, however busy. */
export const SESSION_ABSOLUTE_MS = 8 * 3600_000;
/** A WebAuthn ceremony must end this long after its options were given. */
export const CHALLENGE_LIFETIME_MS = 5 * 60_000;
/**
 * A session's last use is written at most this often: a write per request would queue behind the
 * API's transactions for nothing. The idle timeout is as late as this, at worst.
 */
export const SESSION_TOUCH_MS = 15_000;

/**
 * Where the console lives for browsers: the public URL, with a loopback IP address named
 * `localhost`, since WebAuthn takes a domain name and no IP address for its relying party (and
 * counts http://localhost as secure). Any other address needs a --public-url with a name.
 */
export function consoleBase(publicUrl: string): string {
  const url = new URL(publicUrl);
  if (url.hostname === '127.0.0.1' || url.hostname === '[::1]') url.hostname = 'localhost';
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * The console's caller as the administrator a ceremony concerns: the one the invite or the
 * credential belongs to, named in the trail even when the ceremony fails (contract 7).
 */
export const asAdministrator = (actor: Actor, admin: Pick<Admin, 'id' | 'role'>): Actor => ({ ...actor, kind: 'administrator', subject: admin.id, role: admin.role });

export type AdminState = 'invited' | 'active' | 'revoked';
export const adminState = (a: Admin): AdminState => (a.revokedAt ? 'revoked' : a.enrolledAt ? 'active' : 'invited');

/** The secrets handed out (links, cookies) are kept as their SHA-256 only. */
const digest = (secret: string): string => createHash('sha256').update(secret).digest('hex');
const secret = (): string => randomBytes(32).toString('base64url');
/** 32 random bytes in base64url: what `secret` makes, and so all a link or a cookie may hold. */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The CSRF token of a session: derived from its secret, so it needs no storage and is worthless
 * without the cookie, which a page of another origin can neither read nor guess.
 */
export const csrfTokenOf = (sessionId: string): string => createHmac('sha256', sessionId).update('csrf').digest('base64url');

/** A refusal of a ceremony, with the reason for the log (never for the client). */
export class CeremonyRefused extends Error {
  constructor(
    readonly error: ApiError,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** The challenge a browser signed, read from its clientDataJSON; null when unreadable. */
function challengeOf(credential: unknown): string | null {
  const data = (credential as { response?: { clientDataJSON?: unknown } } | null)?.response?.clientDataJSON;
  if (typeof data !== 'string' || data.length > 4096) return null;
  try {
    const challenge = (JSON.parse(Buffer.from(data, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
    return typeof challenge === 'string' && challenge.length <= 128 ? challenge : null;
  } catch {
    return null;
  }
}

export interface AdminServiceDeps {
  store: Store;
  clock: Clock;
  /** The console is at `{publicUrl}/console/`: its origin is the WebAuthn origin, its host name the relying party id. */
  publicUrl: () => string;
}

export interface SignedIn {
  admin: Admin;
  /** The cookie's secret: given to the browser once, stored only as its hash. */
  sessionId: string;
}

/**
 * Console administrators: invited by e-mail with a one-time link, enrolled with a passkey or a
 * FIDO2 security key (WebAuthn, user verification required), signed in with it, and revoked.
 * Sessions live in the store, so every instance sees a revocation at once.
 */
export function makeAdminService({ store, clock, publicUrl }: AdminServiceDeps) {
  const relyingParty = () => {
    const url = new URL(consoleBase(publicUrl()));
    return { origin: url.origin, rpID: url.hostname };
  };
  const later = (ms: number): string => new Date(clock.now() + ms).toISOString();

  async function newSession(tx: StoreTx, admin: Admin, now: string, replacing: string | undefined): Promise<string> {
    const sessionId = secret();
    await tx.deleteStaleConsoleSessions(new Date(clock.now() - SESSION_IDLE_MS).toISOString(), new Date(clock.now() - SESSION_ABSOLUTE_MS).toISOString());
    // A new session id at every sign-in: one that a page planted before cannot be ridden after.
    if (replacing !== undefined && SECRET_SHAPE.test(replacing)) await tx.deleteConsoleSession(digest(replacing));
    await tx.insertConsoleSession({ idHash: digest(sessionId), adminId: admin.id, createdAt: now, lastSeenAt: now });
    return sessionId;
  }

  const signInEvent = (actor: Actor, admin: Admin | null, at: string, outcome: AuditOutcome, status: number) =>
    auditEvent(
      admin ? asAdministrator(actor, admin) : actor,
      at,
      'console.signin',
      admin ? { adminId: admin.id, email: admin.email } : {},
      outcome,
      status,
    );

  /** The invite that `token` names, if it can still be used, and its administrator. */
  async function validInvite(token: unknown): Promise<{ admin: Admin; tokenHash: string }> {
    if (typeof token !== 'string' || !SECRET_SHAPE.test(token)) throw apiError('INVITE_INVALID');
    const tokenHash = digest(token);
    const invite = await store.adminInvite(tokenHash);
    if (!invite || invite.usedAt !== null || invite.expiresAt <= clock.nowIso()) throw apiError('INVITE_INVALID');
    const admin = await store.adminById(invite.adminId);
    if (!admin || admin.revokedAt) throw apiError('INVITE_INVALID');
    return { admin, tokenHash };
  }

  return {
    /**
     * A new administrator (or a fresh link for one not enrolled, or revoked and coming back, with
     * the role given now), and the one-time link that enrols them. Older links stop working.
     */
    async invite(actor: Actor, input: { email: string; role: Role }): Promise<{ admin: Admin; link: string; expiresAt: string }> {
      const email = checkEmail('email', input.email);
      if (!ROLES.includes(input.role)) throw apiError('INVALID_PROPERTY', 'role', `must be one of ${ROLES.join(', ')}`);
      const token = secret();
      const expiresAt = later(INVITE_LIFETIME_MS);
      const admin = await store.transaction(async (tx) => {
        const now = clock.nowIso();
        const existing = await tx.adminByEmail(email);
        if (existing && adminState(existing) === 'active') throw apiError('ADMIN_EXISTS', existing.email);
        let admin: Admin;
        if (existing) {
          admin = { ...existing, role: input.role, enrolledAt: null, revokedAt: null };
          await tx.deleteAdminInvites(admin.id);
          await tx.deletePasskeysOfAdmin(admin.id);
          await tx.updateAdmin(admin);
        } else {
          admin = { id: newId(clock.now()), email, role: input.role, createdAt: now, createdBy: actor.subject, enrolledAt: null, revokedAt: null };
          await tx.insertAdmin(admin);
        }
        await tx.insertAdminInvite({ tokenHash: digest(token), adminId: admin.id, createdAt: now, expiresAt, usedAt: null });
        await tx.appendAudit(auditEvent(actor, now, 'admin.invite', { adminId: admin.id, email: admin.email }, 'changed', 200));
        return admin;
      });
      return { admin, link: `${consoleBase(publicUrl())}/console/#/enrol/${token}`, expiresAt };
    },

    /** Every administrator, with how many passkeys each has. */
    async list(): Promise<Array<Admin & { state: AdminState; passkeys: number }>> {
      const admins = await store.admins();
      return Promise.all(admins.map(async (a) => ({ ...a, state: adminState(a), passkeys: (await store.passkeysOfAdmin(a.id)).length })));
    },

    /** Revokes an administrator (by id or e-mail address): their sessions end at once, their passkeys and links are removed. */
    async revoke(actor: Actor, who: string): Promise<Admin> {
      return store.transaction(async (tx) => {
        const found = who.includes('@') ? await tx.adminByEmail(who) : await tx.adminById(who);
        if (!found) throw apiError('ADMIN_NOT_FOUND', who);
        const now = clock.nowIso();
        const admin = found.revokedAt ? found : { ...found, revokedAt: now };
        if (!found.revokedAt) {
          await tx.updateAdmin(admin);
          await tx.deleteConsoleSessionsOfAdmin(admin.id);
          await tx.deleteAdminInvites(admin.id);
          await tx.deletePasskeysOfAdmin(admin.id);
        }
        await tx.appendAudit(auditEvent(actor, now, 'admin.revoke', { adminId: admin.id, email: admin.email }, found.revokedAt ? 'unchanged' : 'changed', 200));
        return admin;
      });
    },

    /** What the browser needs to create a passkey for the invite `token`. */
    async enrolmentOptions(token: unknown): Promise<{ admin: Admin; options: PublicKeyCredentialCreationOptionsJSON }> {
      const { admin, tokenHash } = await validInvite(token);
      const { rpID } = relyingParty();
      const options = await generateRegistrationOptions({
        rpName: 'ds100-admin console',
        rpID,
        userName: admin.email,
        userID: new TextEncoder().encode(admin.id),
        attestationType: 'none',
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
        timeout: CHALLENGE_LIFETIME_MS,
      });
      await store.transaction((tx) => tx.insertChallenge(options.challenge, `enrol:${tokenHash}`, clock.nowIso(), later(CHALLENGE_LIFETIME_MS)));
      return { admin, options };
    },

    /**
     * Registers the passkey the browser made for the invite `token`, uses the invite up, and
     * signs the administrator in: all in one transaction with its audit events.
     */
    async enrol(actor: Actor, token: unknown, credential: unknown, replacing?: string): Promise<SignedIn> {
      const { admin, tokenHash } = await validInvite(token);
      const challenge = challengeOf(credential);
      const fail = (reason: string): never => {
        store.recordAudit(auditEvent(asAdministrator(actor, admin), clock.nowIso(), 'admin.enrol', { adminId: admin.id, email: admin.email }, 'invalid', 400));
        throw new CeremonyRefused(apiError('ENROLMENT_FAILED'), reason);
      };
      if (challenge === null) return fail('no readable challenge in clientDataJSON');
      if (!(await store.transaction((tx) => tx.takeChallenge(challenge, `enrol:${tokenHash}`, clock.nowIso())))) {
        return fail('challenge unknown, expired or used');
      }
      const { origin, rpID } = relyingParty();
      let info;
      try {
        const verified = await verifyRegistrationResponse({
          response: credential as RegistrationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          requireUserVerification: true,
        });
        if (!verified.verified || !verified.registrationInfo) return fail('registration not verified');
        info = verified.registrationInfo;
      } catch (error) {
        return fail((error as Error).message);
      }
      const sessionId = await store.transaction(async (tx) => {
        const now = clock.nowIso();
        if (!(await tx.useAdminInvite(tokenHash, now))) throw apiError('INVITE_INVALID');
        const current = await tx.adminById(admin.id);
        if (!current || current.revokedAt) throw apiError('INVITE_INVALID');
        if (await tx.passkey(info.credential.id)) throw new CeremonyRefused(apiError('ENROLMENT_FAILED'), 'credential id already registered');
        await tx.insertPasskey({
          id: info.credential.id,
          adminId: admin.id,
          publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
          counter: info.credential.counter,
          transports: info.credential.transports ?? [],
          createdAt: now,
          lastUsedAt: now,
        });
        const enrolled = { ...current, enrolledAt: current.enrolledAt ?? now };
        await tx.updateAdmin(enrolled);
        const id = await newSession(tx, enrolled, now, replacing);
        const who = asAdministrator(actor, admin);
        await tx.appendAudit(auditEvent(who, now, 'admin.enrol', { adminId: admin.id, email: admin.email }, 'changed', 200));
        await tx.appendAudit(signInEvent(who, enrolled, now, 'changed', 200));
        return id;
      });
      return { admin: { ...admin, enrolledAt: admin.enrolledAt ?? clock.nowIso() }, sessionId };
    },

    /**
     * What the browser needs to sign in. Given an e-mail address of an enrolled administrator,
     * their credentials are named (security keys that keep no passkey need that); otherwise,
     * and for an address that is no one's, the browser offers the passkeys it has.
     */
    async signInOptions(email?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const admin = email ? await store.adminByEmail(email) : null;
      const passkeys = admin && adminState(admin) === 'active' ? await store.passkeysOfAdmin(admin.id) : [];
      const options = await generateAuthenticationOptions({
        rpID: relyingParty().rpID,
        userVerification: 'required',
        timeout: CHALLENGE_LIFETIME_MS,
        allowCredentials: passkeys.map((p) => ({ id: p.id, transports: p.transports as AuthenticatorTransport[] })),
      });
      await store.transaction((tx) => tx.insertChallenge(options.challenge, 'signin', clock.nowIso(), later(CHALLENGE_LIFETIME_MS)));
      return options;
    },

    /** The administrator a credential id belongs to, for the per-account rate limit. */
    ownerOf: async (credentialId: string): Promise<string | null> => (await store.passkey(credentialId))?.adminId ?? null,

    /**
     * Checks the browser's assertion and opens a session. Success and failure are both audited
     * (`console.signin`, outcome `changed` or `denied`); the session and its event commit together.
     */
    async signIn(actor: Actor, credential: unknown, replacing?: string): Promise<SignedIn> {
      const id = (credential as { id?: unknown } | null)?.id;
      const passkey = typeof id === 'string' && id.length <= 1024 ? await store.passkey(id) : null;
      const admin = passkey ? await store.adminById(passkey.adminId) : null;
      const fail = (reason: string): never => {
        store.recordAudit(signInEvent(actor, admin, clock.nowIso(), 'denied', 401));
        throw new CeremonyRefused(apiError('SIGNIN_FAILED'), reason);
      };
      const challenge = challengeOf(credential);
      if (challenge === null) return fail('no readable challenge in clientDataJSON');
      if (!(await store.transaction((tx) => tx.takeChallenge(challenge, 'signin', clock.nowIso())))) return fail('challenge unknown, expired or used');
      if (!passkey || !admin) return fail('unknown credential');
      if (adminState(admin) !== 'active') return fail(`administrator is ${adminState(admin)}`);
      const { origin, rpID } = relyingParty();
      let newCounter: number;
      try {
        const verified = await verifyAuthenticationResponse({
          response: credential as AuthenticationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          requireUserVerification: true,
          credential: {
            id: passkey.id,
            publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')),
            counter: passkey.counter,
            transports: passkey.transports as AuthenticatorTransport[],
          },
        });
        if (!verified.verified) return fail('assertion not verified');
        newCounter = verified.authenticationInfo.newCounter;
      } catch (error) {
        return fail((error as Error).message);
      }
      const sessionId = await store.transaction(async (tx) => {
        const now = clock.nowIso();
        // Revoked while the ceremony ran: the revocation wins.
        const current = await tx.adminById(admin.id);
        if (!current || adminState(current) !== 'active') throw new CeremonyRefused(apiError('SIGNIN_FAILED'), 'revoked during sign-in');
        await tx.usePasskey(passkey.id, newCounter, now);
        const id = await newSession(tx, current, now, replacing);
        await tx.appendAudit(signInEvent(actor, current, now, 'changed', 200));
        return id;
      });
      return { admin, sessionId };
    },

    /**
     * The session whose cookie holds `sessionId`, with its administrator, if it is still open:
     * not idle for SESSION_IDLE_MS, not older than SESSION_ABSOLUTE_MS, its administrator not
     * revoked. An expired one is removed.
     */
    async session(sessionId: string | undefined): Promise<{ admin: Admin; session: ConsoleSession } | null> {
      if (sessionId === undefined || !SECRET_SHAPE.test(sessionId)) return null;
      const session = await store.consoleSession(digest(sessionId));
      if (!session) return null;
      const now = clock.now();
      const over = Date.parse(session.lastSeenAt) + SESSION_IDLE_MS <= now || Date.parse(session.createdAt) + SESSION_ABSOLUTE_MS <= now;
      const admin = over ? null : await store.adminById(session.adminId);
      if (!admin || adminState(admin) !== 'active') {
        await store.transaction((tx) => tx.deleteConsoleSession(session.idHash));
        return null;
      }
      if (now - Date.parse(session.lastSeenAt) >= SESSION_TOUCH_MS) {
        await store.transaction((tx) => tx.touchConsoleSession(session.idHash, clock.nowIso()));
      }
      return { admin, session };
    },

    /** Ends a session (`console.signout`); false when it was already over. */
    async signOut(actor: Actor, sessionId: string): Promise<boolean> {
      if (!SECRET_SHAPE.test(sessionId)) return false;
      return store.transaction(async (tx) => {
        const ended = await tx.deleteConsoleSession(digest(sessionId));
        if (ended) await tx.appendAudit(auditEvent(actor, clock.nowIso(), 'console.signout', actor.subject ? { adminId: actor.subject } : {}, 'changed', 200));
        return ended;
      });
    },
  };
}

export type AdminService = ReturnType<typeof makeAdminService>;

/** The administrator `serve --demo` invites, so that a newcomer can sign in to the console. */
export const DEMO_ADMIN_EMAIL = 'demo-admin@example.com';

/**
 * Invites the demo SuperAdmin (`serve --demo`) and gives the link; null once they are enrolled,
 * so that a restart leaves their passkey alone.
 */
export async function inviteDemoAdmin(store: Store, clock: Clock, actor: Actor, publicUrl: string): Promise<string | null> {
  const existing = await store.adminByEmail(DEMO_ADMIN_EMAIL);
  if (existing && adminState(existing) === 'active') return null;
  const service = makeAdminService({ store, clock, publicUrl: () => publicUrl });
  try {
    return (await service.invite(actor, { email: DEMO_ADMIN_EMAIL, role: 'SuperAdmin' })).link;
  } catch (error) {
    // Enrolled meanwhile, through another instance started with --demo.
    if (error instanceof ApiError && error.errorName === 'ADMIN_EXISTS') return null;
    throw error;
  }
}
