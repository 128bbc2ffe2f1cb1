import { AUDIT_OUTCOMES, type AuditEvent, type AuditOutcome, type AuditTarget, type CallerKind, type Role, type TokenRefusal } from './types.ts';

/**
 * The event log's words for the audit trail (docs/contract.md, section 11): for each operation
 * and outcome one stable `activityKey` and `activityCode`, the sentence a person reads, and which
 * of the two logs carries the event. A feature that adds an operation adds its row here and its
 * line to the contract's table; keys and codes, once released, are never changed or reused.
 *
 * A code is the operation's base plus the outcome's offset, a key the operation's stem and the
 * outcome's suffix: `DS100_OTP_ENABLE_SUCCESS` 91100, `DS100_OTP_ENABLE_NOT_FOUND` 91102.
 */
interface Operation {
  stem: string;
  base: number;
  /** What the admin asked for, as a verb phrase: "enable the OTP credentials of DS100 140100080". */
  request: (t: AuditTarget) => string;
  /** What was done, for an outcome that changed something: "enabled the OTP credentials of ...". */
  done: (t: AuditTarget) => string;
  /** What an administrator did, said to the user whose credential it was (user event log only). */
  toUser?: string;
}

const device = (t: AuditTarget) => `DS100 ${t.deviceSerialNumber ?? '(unknown)'}`;
const credential = (t: AuditTarget) => `OTP credential ${t.tokenSerialNumber ?? '(unknown)'}`;
const user = (t: AuditTarget) => `user ${t.userId ?? t.email ?? '(unknown)'}`;
const key = (t: AuditTarget) => `Administration API key ${t.accessId ?? '(unknown)'}`;
const client = (t: AuditTarget) => `OAuth client ${t.clientId ?? t.accessId ?? '(unknown)'}`;
const admin = (t: AuditTarget) => `administrator ${t.email ?? t.userId ?? '(unknown)'}`;
/** The scopes of a token request, when its event names them: " for scope a" or " for scopes a b". */
const scopes = (t: AuditTarget) => (t.scope === undefined ? '' : ` for scope${t.scope.includes(' ') ? 's' : ''} ${t.scope}`);

export const OPERATIONS: Readonly<Record<string, Operation>> = {
  'ds100.enable': {
    stem: 'DS100_OTP_ENABLE', base: 91100,
    request: (t) => `enable the OTP credentials of ${device(t)} for ${user(t)}`,
    done: (t) => `enabled the OTP credentials of ${device(t)} for ${user(t)}`,
    toUser: 'enabled the OTP credentials of',
  },
  'ds100.disable': {
    stem: 'DS100_OTP_DISABLE', base: 91200,
    request: (t) => `disable the OTP credentials of ${device(t)} for ${user(t)}`,
    done: (t) => `disabled the OTP credentials of ${device(t)} for ${user(t)}`,
    toUser: 'disabled the OTP credentials of',
  },
  'ds100.delete': {
    stem: 'DS100_OTP_DELETE', base: 91300,
    request: (t) => `delete ${credential(t)} of ${device(t)} for ${user(t)}`,
    done: (t) => `deleted ${credential(t)} of ${device(t)} for ${user(t)}`,
    toUser: 'deleted',
  },
  'ds100.clearPin': {
    stem: 'DS100_OTP_CLEAR_PIN', base: 91400,
    request: (t) => `clear the PIN of ${credential(t)} for ${user(t)}`,
    done: (t) => `cleared the PIN of ${credential(t)} for ${user(t)}`,
    toUser: 'cleared the PIN of',
  },
  'ds100.lookup': {
    stem: 'DS100_LOOKUP', base: 91500,
    request: (t) => `look up the OTP credentials of ${device(t)}`,
    done: (t) => `looked up the OTP credentials of ${device(t)}`,
  },
  'ds100.register': {
    stem: 'DS100_REGISTER', base: 91600,
    request: (t) => `register ${device(t)} to ${user(t)}`,
    done: (t) => `registered ${device(t)} (${credential(t)}) to ${user(t)}`,
    toUser: 'registered',
  },
  'ds100.import': {
    stem: 'DS100_IMPORT', base: 91700,
    request: (t) => `import ${t.count ?? 'some'} DS100 registrations`,
    done: (t) => `imported ${t.count ?? 'some'} DS100 registrations`,
  },
  'users.lookup': {
    stem: 'USER_LOOKUP', base: 92100,
    request: (t) => `look up ${user(t)}`,
    done: (t) => `looked up ${user(t)}`,
  },
  'user.add': {
    stem: 'USER_ADD', base: 92200,
    request: (t) => `add ${user(t)}`,
    done: (t) => `added ${user(t)}`,
  },
  'user.import': {
    stem: 'USER_IMPORT', base: 92300,
    request: (t) => `import ${t.count ?? 'some'} users`,
    done: (t) => `imported ${t.count ?? 'some'} users`,
  },
  'apikey.create': {
    stem: 'API_KEY_CREATE', base: 93100,
    request: (t) => `create ${key(t)}`,
    done: (t) => `created ${key(t)}`,
  },
  'apikey.delete': {
    stem: 'API_KEY_DELETE', base: 93200,
    request: (t) => `delete ${key(t)}`,
    done: (t) => `deleted ${key(t)}`,
  },
  // The caller is the client itself (once its assertion proved it): "OAuth client X was issued ...".
  'oauth.token': {
    stem: 'OAUTH_TOKEN_ISSUE', base: 94100,
    request: (t) => `get an access token${scopes(t)}`,
    done: (t) => `was issued an access token${scopes(t)}`,
  },
  'oauthclient.create': {
    stem: 'OAUTH_CLIENT_CREATE', base: 94200,
    request: (t) => `register ${client(t)}`,
    done: (t) => `registered ${client(t)}`,
  },
  'oauthclient.delete': {
    stem: 'OAUTH_CLIENT_DELETE', base: 94300,
    request: (t) => `delete ${client(t)}`,
    done: (t) => `deleted ${client(t)}`,
  },
  'adminlog.export': {
    stem: 'ADMIN_LOG_EXPORT', base: 95100,
    request: () => 'export the administration event log',
    done: () => 'exported the administration event log',
  },
  'usereventlog.export': {
    stem: 'USER_EVENT_LOG_EXPORT', base: 95200,
    request: () => 'export the user event log',
    done: () => 'exported the user event log',
  },
  'admin.invite': {
    stem: 'ADMIN_INVITE', base: 96100,
    request: (t) => `invite ${admin(t)}`,
    done: (t) => `invited ${admin(t)}`,
  },
  'admin.enrol': {
    stem: 'ADMIN_ENROL', base: 96200,
    request: (t) => `enrol ${admin(t)}`,
    done: (t) => `enrolled ${admin(t)}`,
  },
  'admin.revoke': {
    stem: 'ADMIN_REVOKE', base: 96300,
    request: (t) => `revoke ${admin(t)}`,
    done: (t) => `revoked ${admin(t)}`,
  },
};

/** The vendor's own keys for console sign-in and sign-out; each outcome that is not a success is a failure. */
const CONSOLE: Readonly<Record<string, { success: Activity; failure: Activity }>> = {
  'console.signin': {
    success: { key: 'SIGNIN_SUCCESS', code: 80001 },
    failure: { key: 'SIGNIN_FAILURE', code: 80002 },
  },
  'console.signout': {
    success: { key: 'SIGNOUT', code: 80003 },
    failure: { key: 'SIGNOUT', code: 80003 },
  },
};

/** By outcome: the key's suffix, the code's offset, the reason of a failure, and how the sentence ends. */
export const OUTCOMES: Readonly<Record<AuditOutcome, { suffix: string; offset: number; reason: string; ending: string }>> = {
  changed: { suffix: 'SUCCESS', offset: 0, reason: '', ending: '' },
  unchanged: { suffix: 'UNCHANGED', offset: 1, reason: '', ending: '; nothing needed to change' },
  not_found: { suffix: 'NOT_FOUND', offset: 2, reason: 'NOT_FOUND', ending: ': it was not found' },
  invalid: { suffix: 'INVALID', offset: 3, reason: 'INVALID_REQUEST', ending: ': the request was not valid' },
  denied: { suffix: 'DENIED', offset: 4, reason: 'ACCESS_DENIED', ending: ': the token or its role does not allow it' },
  rate_limited: { suffix: 'RATE_LIMITED', offset: 5, reason: 'RATE_LIMITED', ending: ': a rate limit refused it' },
  error: { suffix: 'ERROR', offset: 6, reason: 'INTERNAL_ERROR', ending: ': an internal error occurred' },
};

/**
 * The token endpoint's classes of refusal (contract 10): the reason key the admin log shows in
 * place of the outcome's, and how the sentence ends.
 */
export const TOKEN_REFUSAL_REASONS: Readonly<Record<TokenRefusal, { reason: string; ending: string }>> = {
  unknown_client: { reason: 'UNKNOWN_CLIENT', ending: ': no such OAuth client is registered' },
  invalid_assertion: { reason: 'INVALID_CLIENT_ASSERTION', ending: ': its client assertion was not valid' },
  replayed_assertion: { reason: 'ASSERTION_REPLAYED', ending: ': its client assertion had already been used' },
  scope_not_allowed: { reason: 'SCOPE_NOT_ALLOWED', ending: ': the client may not be granted that scope' },
};

/** How a failure ended: its class of refusal when the event names one, else its outcome's. */
function failureOf(e: Pick<AuditEvent, 'target' | 'outcome'>): { reason: string; ending: string } {
  const refusal = e.target.refusal;
  return refusal !== undefined && Object.hasOwn(TOKEN_REFUSAL_REASONS, refusal) ? TOKEN_REFUSAL_REASONS[refusal] : OUTCOMES[e.outcome];
}

/** The admin log's `reasonKey`: empty on success, else the class of refusal or the outcome's reason. */
export const reasonKeyOf = (e: Pick<AuditEvent, 'target' | 'outcome'>): string => (succeeded(e.outcome) ? '' : failureOf(e).reason);

/** Operations that change nothing: their success is `unchanged`, and says what was done. */
const READS = new Set(['ds100.lookup', 'users.lookup', 'adminlog.export', 'usereventlog.export']);

/** An operation the table does not know yet (never written by this release): its events still read. */
const OTHER: Operation = {
  stem: 'OTHER', base: 99000,
  request: () => 'perform an operation',
  done: () => 'performed an operation',
};

export interface Activity {
  key: string;
  code: number;
}

export function activityOf(operation: string, outcome: AuditOutcome): Activity {
  const console = CONSOLE[operation];
  if (console) return outcome === 'changed' || outcome === 'unchanged' ? console.success : console.failure;
  const op = OPERATIONS[operation] ?? OTHER;
  const o = OUTCOMES[outcome];
  return { key: `${op.stem}_${o.suffix}`, code: op.base + o.offset };
}

export const succeeded = (outcome: AuditOutcome): boolean => outcome === 'changed' || outcome === 'unchanged';

/** The role names the vendor's log shows. */
const ROLE_NAMES: Record<Role, string> = {
  SuperAdmin: 'Super Administrator',
  HelpDeskAdmin: 'Help Desk Administrator',
  ReadOnly: 'Read Only Administrator',
};
/** Ours, for the callers that have no role: by their kind, never by the missing role alone. */
const KIND_NAMES: Record<Exclude<CallerKind, 'administrator'>, string> = {
  oauth_client: 'OAuth Client',
  operator: 'Local Operator',
  unauthenticated: 'Unauthenticated',
};
export const roleName = (e: Pick<AuditEvent, 'kind' | 'role'>): string =>
  e.kind === 'administrator' ? (e.role === null ? 'Administrator' : ROLE_NAMES[e.role]) : KIND_NAMES[e.kind];

/** Who did it, in a sentence, by the caller's kind. */
function who(e: Pick<AuditEvent, 'kind' | 'subject' | 'target'>): string {
  switch (e.kind) {
    case 'administrator':
      return `Administrator ${e.subject}`;
    case 'oauth_client':
      return `OAuth client ${e.subject}`;
    case 'operator':
      return `The operator at the command line (${e.subject})`;
    case 'unauthenticated':
      // At the token endpoint: the client an assertion claimed, which it did not prove.
      return e.target.clientUnverified && e.target.clientId !== undefined
        ? `A caller claiming to be OAuth client ${e.target.clientId} (not verified)`
        : 'An unauthenticated caller';
  }
}

/** One sentence for a person: who did (or tried to do) what, and how it ended. */
export function messageOf(e: Pick<AuditEvent, 'kind' | 'subject' | 'role' | 'operation' | 'target' | 'outcome'>): string {
  const console = CONSOLE[e.operation];
  if (console) {
    const did = e.operation === 'console.signin' ? 'signed in to the console' : 'signed out of the console';
    // A sign-in is refused for its passkey, not for a token or role.
    const ending = e.outcome === 'denied' ? ': the passkey or security key was not accepted' : OUTCOMES[e.outcome].ending;
    return succeeded(e.outcome) ? `${who(e)} ${did}.` : `${who(e)} failed to sign in to the console${ending}.`;
  }
  const op = OPERATIONS[e.operation] ?? OTHER;
  if (e.outcome === 'changed' || (e.outcome === 'unchanged' && READS.has(e.operation))) return `${who(e)} ${op.done(e.target)}.`;
  if (e.outcome === 'unchanged') return `${who(e)} asked to ${op.request(e.target)}${OUTCOMES.unchanged.ending}.`;
  return `${who(e)} tried to ${op.request(e.target)}${failureOf(e).ending}.`;
}

/** The sentence the user event log shows its user: what happened to their credential. */
export function userMessageOf(e: Pick<AuditEvent, 'operation' | 'target' | 'outcome'>): string {
  const t = e.target;
  const what =
    t.tokenSerialNumber === undefined || e.operation === 'ds100.register'
      ? `your ${device(t)}`
      : t.deviceSerialNumber === undefined
        ? `your ${credential(t)}`
        : `${credential(t)} of your ${device(t)}`;
  if (e.outcome === 'changed') return `An administrator ${OPERATIONS[e.operation]?.toUser ?? 'changed'} ${what}.`;
  if (e.outcome === 'unchanged') return `An administrator's request left ${what} as it was.`;
  return `An administrator's request concerning ${what} failed${OUTCOMES[e.outcome].ending}.`;
}

/** The export calls' own events stay out of the log they read (contract 11). */
export const EXPORT_OPERATIONS = ['adminlog.export', 'usereventlog.export'] as const;
const EXPORTS: ReadonlySet<string> = new Set(EXPORT_OPERATIONS);
/** The operations on one end user's credentials: the user event log shows them from that user's side. */
export const USER_LOG_OPERATIONS: ReadonlySet<string> = new Set(['ds100.enable', 'ds100.disable', 'ds100.delete', 'ds100.clearPin', 'ds100.register']);

export const inAdminLog = (e: Pick<AuditEvent, 'operation'>): boolean => !EXPORTS.has(e.operation);
export const inUserLog = (e: Pick<AuditEvent, 'operation' | 'target'>): boolean =>
  USER_LOG_OPERATIONS.has(e.operation) && typeof e.target.userId === 'string';

/** An activity key of the admin log, and what it stands for in the trail: one operation, one or more outcomes. */
export interface ActivityChoice {
  key: string;
  code: number;
  operation: string;
  outcomes: AuditOutcome[];
}

/**
 * Every activity key the admin log can show, in the table's order, each with the operation and
 * outcomes it stands for: the activity filter's choices, and its translation into the trail's
 * terms. Derived from `activityOf`, so the two never disagree; the exports' own events are not
 * in the admin log, so neither are their keys.
 */
export const ACTIVITY_CHOICES: readonly ActivityChoice[] = (() => {
  const byKey = new Map<string, ActivityChoice>();
  for (const operation of [...Object.keys(CONSOLE), ...Object.keys(OPERATIONS)]) {
    if (!inAdminLog({ operation })) continue;
    for (const outcome of AUDIT_OUTCOMES) {
      const { key, code } = activityOf(operation, outcome);
      const choice = byKey.get(key);
      if (choice) choice.outcomes.push(outcome);
      else byKey.set(key, { key, code, operation, outcomes: [outcome] });
    }
  }
  return [...byKey.values()];
})();

/** The operation and outcomes of an activity key, or null when the admin log has no such key. */
export const activityChoice = (key: string): ActivityChoice | null => ACTIVITY_CHOICES.find((c) => c.key === key) ?? null;
