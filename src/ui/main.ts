/**
 * The console: a page per hash route, built from text with the DOM (no markup from data, no
 * framework). What a role may not do is not offered; the server refuses it anyway.
 */
import type { ActivityEvent } from '../http/console/activity.ts';
import { ApiFailure, call, query, setCsrfToken, whenSignedOut } from './api.ts';
import { announce, field, h, when } from './dom.ts';
import { createCredential, getAssertion, type CreationJson, type RequestJson } from './webauthn.ts';

type Role = 'SuperAdmin' | 'HelpDeskAdmin' | 'ReadOnly';
interface Me {
  id: string;
  email: string;
  role: Role;
}
interface User {
  id: string;
  emailAddress: string | null;
  firstName: string | null;
  lastName: string | null;
  userStatus: string;
}
interface Credential {
  userId: string;
  deviceSerialNumber: string;
  tokenSerialNumber: string;
  tokenStatus: 'Enabled' | 'Disabled';
  pinSet: boolean;
  updatedAt: string;
  tokenStatusChangedAt: string | null;
  tokenStatusChangedByName?: string | null;
  userEmail?: string | null;
}
interface OAuthClient {
  clientId: string;
  description: string | null;
  scopes: string[];
  alg: string;
  createdAt: string;
}

const ROLES: Role[] = ['SuperAdmin', 'HelpDeskAdmin', 'ReadOnly'];
/** The roles that change credentials: the API's, said again for what the page offers. */
const CHANGERS: Role[] = ['SuperAdmin', 'HelpDeskAdmin'];

let me: Me | null = null;
const main = (): HTMLElement => document.getElementById('main')!;

/** The download link of a secret offered once (a key file, a private JWK): forgotten when the page changes. */
let offered: string | null = null;

/** A link that downloads `data` as the JSON file `name`, made in the page: the secret never passes the server again. */
function offerOnce(data: unknown, name: string, text: string): HTMLAnchorElement {
  offered = URL.createObjectURL(new Blob([`${JSON.stringify(data, null, 2)}\n`], { type: 'application/json' }));
  return h('a', { href: offered, download: name, id: 'secret-download' }, text);
}

/** Replaces the page, titles it, and moves focus to its heading so that a screen reader starts there. */
function render(title: string, ...content: Array<Node | null>): void {
  if (offered) URL.revokeObjectURL(offered);
  offered = null;
  document.title = `${title} · DS100 console`;
  const heading = h('h1', { tabindex: '-1' }, title);
  main().replaceChildren(heading, ...content.filter((c): c is Node => c !== null));
  heading.focus();
}

const alertBox = (): HTMLElement => h('p', { class: 'error', role: 'alert' });
const fail = (box: HTMLElement, error: unknown): void => {
  box.textContent = error instanceof ApiFailure || error instanceof Error ? error.message : String(error);
};

function renderNav(): void {
  const nav = document.getElementById('nav')!;
  if (!me) return nav.replaceChildren();
  const here = location.hash.split('?')[0]!.split('/')[1] || 'search';
  const link = (page: string, text: string) => h('a', { href: `#/${page}`, 'aria-current': here === page ? 'page' : undefined }, text);
  const signOut = h('button', { type: 'button', class: 'link', onclick: () => void signOutNow() }, 'Sign out');
  nav.replaceChildren(
    h(
      'ul',
      {},
      h('li', {}, link('search', 'Search')),
      h('li', {}, link('activity', 'Activity')),
      me.role === 'SuperAdmin' ? h('li', {}, link('admins', 'Administrators')) : null,
      me.role === 'SuperAdmin' ? h('li', {}, link('keys', 'API keys')) : null,
      me.role === 'SuperAdmin' ? h('li', {}, link('oauth', 'OAuth clients')) : null,
    ),
    h('p', { class: 'who' }, `${me.email} (${me.role})`),
    signOut,
  );
}

async function signOutNow(): Promise<void> {
  await call('POST', 'signout').catch(() => {});
  me = null;
  setCsrfToken('');
  renderNav();
  signInPage('You are signed out.');
}

function signedIn(session: { admin: Me; csrfToken: string }): void {
  me = session.admin;
  setCsrfToken(session.csrfToken);
}

// ---- sign-in and enrolment ----

function signInPage(message?: string): void {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username webauthn' });
  const error = alertBox();
  const form = h(
    'form',
    {
      onsubmit: async (event: Event) => {
        event.preventDefault();
        error.textContent = '';
        try {
          const { publicKey } = await call<{ publicKey: RequestJson }>('POST', 'signin/options', email.value ? { email: email.value } : {});
          signedIn(await call('POST', 'signin', { credential: await getAssertion(publicKey) }));
          announce(`Signed in as ${me!.email}.`);
          await route();
        } catch (e) {
          fail(error, e);
        }
      },
    },
    field('E-mail address (optional)', email, 'Needed only for a security key that keeps no passkey.'),
    h('button', { type: 'submit' }, 'Sign in with a passkey or security key'),
  );
  renderNav();
  render('Sign in', message ? h('p', { class: 'notice' }, message) : null, form, error);
}

async function enrolPage(token: string): Promise<void> {
  const error = alertBox();
  let invited: { email: string; role: Role; publicKey: CreationJson };
  try {
    invited = await call('POST', 'enrol/options', { token });
  } catch (e) {
    fail(error, e);
    render('Enrol', error, h('p', {}, h('a', { href: '#/search' }, 'Go to sign-in')));
    return;
  }
  const register = async (): Promise<void> => {
    error.textContent = '';
    try {
      const { publicKey } = await call<{ publicKey: CreationJson }>('POST', 'enrol/options', { token });
      signedIn(await call('POST', 'enrol', { token, credential: await createCredential(publicKey) }));
      announce(`Enrolled and signed in as ${me!.email}.`);
      history.replaceState(null, '', '#/search');
      await route();
    } catch (e) {
      fail(error, e);
    }
  };
  render(
    'Enrol',
    h('p', {}, 'You are invited to the DS100 console as ', h('strong', {}, invited.email), ` with the role ${invited.role}.`),
    h('p', {}, 'Register a passkey or a FIDO2 security key: it is how you sign in from now on. There is no password.'),
    h('button', { type: 'button', onclick: () => void register() }, 'Register a passkey or security key'),
    error,
  );
}

// ---- search ----

const userLink = (id: string, text: string) => h('a', { href: `#/user/${encodeURIComponent(id)}` }, text);
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function searchPage(): void {
  const email = h('input', { type: 'search', name: 'email', required: true, maxlength: 254, autocomplete: 'off' });
  const serial = h('input', { type: 'search', name: 'serial', required: true, maxlength: 36, autocomplete: 'off' });
  const results = h('div', { class: 'results' });
  const error = alertBox();
  const users = async (event: Event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      const found = await call<{ users: User[]; more: boolean }>('GET', `users?${query({ email: email.value })}`);
      results.replaceChildren(
        found.users.length === 0
          ? h('p', {}, 'No user found.')
          : h(
              'table',
              {},
              h('caption', {}, `Users whose e-mail address starts with “${email.value}”`),
              h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'E-mail address'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Status'))),
              h('tbody', {}, ...found.users.map((u) =>
                h('tr', {}, h('td', {}, userLink(u.id, u.emailAddress ?? u.id)), h('td', {}, [u.firstName, u.lastName].filter(Boolean).join(' ') || '—'), h('td', {}, u.userStatus)))),
            ),
      );
      announce(`${plural(found.users.length, 'user', 'users')} found${found.more ? ', more not shown: type more of the address' : ''}.`);
    } catch (e) {
      fail(error, e);
    }
  };
  const credentials = async (event: Event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      const found = await call<{ credentials: Credential[] }>('GET', `credentials?${query({ serial: serial.value })}`);
      results.replaceChildren(
        found.credentials.length === 0
          ? h('p', {}, 'No credential found.')
          : h(
              'table',
              {},
              h('caption', {}, `Credentials of serial ${serial.value}`),
              h('thead', {}, h('tr', {}, ...['Token serial', 'DS100', 'User', 'Status', 'PIN set'].map((t) => h('th', { scope: 'col' }, t)))),
              h('tbody', {}, ...found.credentials.map((c) =>
                h('tr', {}, h('td', {}, c.tokenSerialNumber), h('td', {}, c.deviceSerialNumber), h('td', {}, userLink(c.userId, c.userEmail ?? c.userId)), h('td', {}, c.tokenStatus), h('td', {}, c.pinSet ? 'Yes' : 'No')))),
            ),
      );
      announce(`${plural(found.credentials.length, 'credential', 'credentials')} found.`);
    } catch (e) {
      fail(error, e);
    }
  };
  render(
    'Search',
    h('div', { class: 'forms' },
      h('form', { onsubmit: users, role: 'search', 'aria-label': 'Users' }, field('E-mail address starts with', email), h('button', { type: 'submit' }, 'Find users')),
      h('form', { onsubmit: credentials, role: 'search', 'aria-label': 'Credentials' }, field('Device or token serial number', serial), h('button', { type: 'submit' }, 'Find credentials')),
    ),
    error,
    results,
  );
}

// ---- a user's page ----

/** Asks in a modal dialog; with `typed`, the person must type that serial to confirm. */
function confirmAction(title: string, text: string, action: string, typed?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const input = typed ? h('input', { type: 'text', autocomplete: 'off', id: 'confirm-serial' }) : null;
    const error = alertBox();
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-title' });
    const close = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, text),
      ...(input ? [field(`Type ${typed} to confirm`, input)] : []),
      error,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => close(false) }, 'Cancel'),
        h('button', {
          type: 'button',
          class: 'danger',
          onclick: () => {
            if (input && input.value.trim() !== typed) {
              error.textContent = `That is not ${typed}.`;
              input.focus();
              return;
            }
            close(true);
          },
        }, action),
      ),
    );
    dialog.addEventListener('cancel', () => resolve(false));
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    (input ?? dialog.querySelector('button'))!.focus();
  });
}

async function userPage(userId: string): Promise<void> {
  const error = alertBox();
  let data: { user: User; credentials: Credential[] };
  try {
    data = await call('GET', `users/${encodeURIComponent(userId)}`);
  } catch (e) {
    fail(error, e);
    render('User', error);
    return;
  }
  const { user, credentials } = data;
  const name = user.emailAddress ?? user.id;
  const mayChange = CHANGERS.includes(me!.role);
  const act = async (what: () => Promise<unknown>, done: string) => {
    try {
      await what();
      await userPage(userId);
      announce(done);
    } catch (e) {
      fail(error, e);
    }
  };
  const actions = (c: Credential) => {
    const device = c.deviceSerialNumber;
    const token = c.tokenSerialNumber;
    const enable = c.tokenStatus === 'Disabled';
    return h('td', {}, h('div', { class: 'row-actions' },
      h('button', {
        type: 'button',
        'aria-label': `${enable ? 'Enable' : 'Disable'} DS100 ${device}`,
        onclick: async () => {
          if (!(await confirmAction(`${enable ? 'Enable' : 'Disable'} DS100 ${device}?`, `Every OTP credential of DS100 ${device} of ${name} becomes ${enable ? 'Enabled' : 'Disabled'}.`, `${enable ? 'Enable' : 'Disable'} ${device}`))) return;
          await act(() => call('POST', `credentials/${enable ? 'enable' : 'disable'}`, { userId: user.id, deviceSerialNumber: device }), `DS100 ${device} ${enable ? 'enabled' : 'disabled'}.`);
        },
      }, enable ? 'Enable' : 'Disable'),
      c.pinSet
        ? h('button', {
            type: 'button',
            'aria-label': `Clear PIN of ${token}`,
            onclick: async () => {
              if (!(await confirmAction(`Clear the PIN of ${token}?`, `${name} will set a new PIN at the next sign-in with credential ${token}.`, `Clear PIN of ${token}`))) return;
              await act(() => call('POST', 'credentials/clear-pin', { userId: user.id, tokenSerialNumber: token }), `PIN of ${token} cleared.`);
            },
          }, 'Clear PIN')
        : null,
      h('button', {
        type: 'button',
        class: 'danger',
        'aria-label': `Delete credential ${token}`,
        onclick: async () => {
          if (!(await confirmAction(`Delete credential ${token}?`, `OTP credential ${token} of DS100 ${device} is removed from ${name} for good.`, `Delete ${token}`, token))) return;
          await act(() => call('POST', 'credentials/delete', { userId: user.id, deviceSerialNumber: device, tokenSerialNumber: token }), `Credential ${token} deleted.`);
        },
      }, 'Delete'),
    ));
  };
  const columns = ['DS100', 'Token serial', 'Status', 'PIN set', 'Last change', 'Status changed by', ...(mayChange ? ['Actions'] : [])];
  const table = credentials.length === 0
    ? h('p', {}, 'No DS100 is registered to this user.')
    : h('table', {},
        h('caption', {}, 'DS100 credentials'),
        h('thead', {}, h('tr', {}, ...columns.map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...credentials.map((c) =>
          h('tr', {},
            h('td', {}, c.deviceSerialNumber), h('th', { scope: 'row' }, c.tokenSerialNumber),
            h('td', {}, h('span', { class: `badge ${c.tokenStatus.toLowerCase()}` }, c.tokenStatus)),
            h('td', {}, c.pinSet ? 'Yes' : 'No'), h('td', {}, when(c.updatedAt)),
            h('td', {}, c.tokenStatusChangedByName ?? '—'),
            mayChange ? actions(c) : null))));
  const register = me!.role === 'SuperAdmin' ? registerForm(user.id, error, () => userPage(userId)) : null;
  render(
    name,
    h('dl', {},
      h('dt', {}, 'Name'), h('dd', {}, [user.firstName, user.lastName].filter(Boolean).join(' ') || '—'),
      h('dt', {}, 'User id'), h('dd', {}, user.id),
      h('dt', {}, 'Status'), h('dd', {}, user.userStatus)),
    error,
    table,
    register,
  );
}

function registerForm(userId: string, error: HTMLElement, reload: () => Promise<void>): HTMLElement {
  const device = h('input', { type: 'text', required: true, maxlength: 36, autocomplete: 'off' });
  const token = h('input', { type: 'text', maxlength: 36, autocomplete: 'off' });
  return h('section', { 'aria-labelledby': 'register-title' },
    h('h2', { id: 'register-title' }, 'Register a DS100'),
    h('form', {
      onsubmit: async (event: Event) => {
        event.preventDefault();
        try {
          const { result } = await call<{ result: Credential }>('POST', 'credentials/register', {
            userId, deviceSerialNumber: device.value.trim(), ...(token.value.trim() ? { tokenSerialNumber: token.value.trim() } : {}),
          });
          await reload();
          announce(`DS100 ${result.deviceSerialNumber} registered with credential ${result.tokenSerialNumber}.`);
        } catch (e) {
          fail(error, e);
        }
      },
    },
    field('DS100 serial number', device),
    field('Token serial number (optional)', token, 'Left empty, the next free serial of the DS100 is given.'),
    h('button', { type: 'submit' }, 'Register DS100')));
}

// ---- activity ----

/** The activity keys of the admin log, by group: asked once per page load. */
let activityGroups: Array<{ group: string; keys: string[] }> | null = null;

const targetText = (t: ActivityEvent['targets'][number]): string => [t.type, t.id, t.name && `(${t.name})`].filter(Boolean).join(' ');

async function activityPage(params: URLSearchParams): Promise<void> {
  const error = alertBox();
  const input = (name: string, type = 'text') => h('input', { type, name, value: params.get(name) ?? '', autocomplete: 'off', maxlength: 254 });
  const user = input('user');
  const admin = input('admin');
  const from = input('from', 'date');
  const to = input('to', 'date');
  activityGroups ??= (await call<{ groups: Array<{ group: string; keys: string[] }> }>('GET', 'activity/keys')).groups;
  const chosen = params.get('activity') ?? '';
  const activity = h('select', { name: 'activity' }, h('option', { value: '' }, 'Any'),
    ...activityGroups.map((g) => h('optgroup', { label: g.group }, ...g.keys.map((k) => h('option', { value: k, selected: chosen === k }, k)))));
  const filters = { user: params.get('user') ?? '', admin: params.get('admin') ?? '', activity: chosen, from: params.get('from') ?? '', to: params.get('to') ?? '' };
  const go = (cursor: { before?: number; after?: number }) => {
    const next = query({ user: user.value.trim(), admin: admin.value.trim(), activity: activity.value, from: from.value, to: to.value, ...cursor });
    location.hash = `#/activity${next ? `?${next}` : ''}`;
  };
  const page = (name: string) => params.get(name) ?? undefined;
  const form = h('form', { class: 'filters', onsubmit: (e: Event) => (e.preventDefault(), go({})) },
    field('User (id or e-mail address)', user), field('Administrator (e-mail address or id)', admin), field('Activity', activity),
    field('From (UTC day)', from), field('To (UTC day)', to),
    h('button', { type: 'submit' }, 'Filter'));
  let data: { events: ActivityEvent[]; newer: number | null; older: number | null };
  try {
    data = await call('GET', `activity?${query({ ...filters, before: page('before'), after: page('after') })}`);
  } catch (e) {
    fail(error, e);
    render('Activity', form, error);
    return;
  }
  const table = data.events.length === 0
    ? h('p', {}, 'No activity matches.')
    : h('table', {},
        h('caption', {}, 'Admin log, newest first'),
        h('thead', {}, h('tr', {}, ...['Time', 'Activity', 'Administrator', 'Target', 'Address', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...data.events.map((e) =>
          h('tr', {},
            h('td', {}, when(e.at)),
            h('td', {}, h('span', { class: `badge ${e.result === 'SUCCESS' ? 'enabled' : 'disabled'}` }, e.activityKey)),
            h('td', {}, e.adminUserName === null ? '—' : `${e.adminName ?? e.adminUserName} (${e.adminUserRole})`),
            h('td', {}, e.targets.map(targetText).join('; ') || '—'),
            h('td', {}, e.sourceIPAddress ?? '—'),
            h('td', {}, e.message)))));
  render('Activity', form, error, table,
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      h('button', { type: 'button', disabled: data.newer === null, onclick: () => go({ after: data.newer! }) }, 'Newer'),
      h('button', { type: 'button', disabled: data.older === null, onclick: () => go({ before: data.older! }) }, 'Older')));
  announce(`${plural(data.events.length, 'event', 'events')}${data.older !== null ? ', more on older pages' : ''}.`);
}

// ---- SuperAdmin: administrators, API keys and OAuth clients ----

const roleSelect = () => h('select', { name: 'role' }, ...ROLES.map((r) => h('option', { value: r }, r)));

async function adminsPage(): Promise<void> {
  const error = alertBox();
  const made = h('div', { class: 'once' });
  const email = h('input', { type: 'email', required: true, autocomplete: 'off' });
  const role = roleSelect();
  const { admins } = await call<{ admins: Array<Me & { state: string; passkeys: number; enrolledAt: string | null }> }>('GET', 'admins');
  const invite = h('form', {
    onsubmit: async (event: Event) => {
      event.preventDefault();
      try {
        const { link, expiresAt } = await call<{ link: string; expiresAt: string }>('POST', 'admins/invite', { email: email.value, role: role.value });
        await adminsPage();
        const shown = h('input', { type: 'text', readonly: true, value: link, id: 'invite-link' });
        document.querySelector('.once')!.replaceChildren(field(`Enrolment link for ${email.value} (single use, until ${when(expiresAt)})`, shown, 'Send it to them; it is shown only now.'));
        shown.focus();
        shown.select();
        announce(`Invited ${email.value}. The enrolment link is shown once.`);
      } catch (e) {
        fail(error, e);
      }
    },
  }, field('E-mail address', email), field('Role', role), h('button', { type: 'submit' }, 'Invite'));
  render('Administrators',
    h('table', {},
      h('caption', {}, 'Administrators'),
      h('thead', {}, h('tr', {}, ...['E-mail address', 'Role', 'State', 'Passkeys', 'Enrolled', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...admins.map((a) =>
        h('tr', {}, h('th', { scope: 'row' }, a.email), h('td', {}, a.role), h('td', {}, a.state), h('td', {}, String(a.passkeys)), h('td', {}, when(a.enrolledAt)),
          h('td', {}, a.state !== 'revoked' && a.id !== me!.id
            ? h('button', {
                type: 'button',
                class: 'danger',
                'aria-label': `Revoke ${a.email}`,
                onclick: async () => {
                  if (!(await confirmAction(`Revoke ${a.email}?`, 'Their sessions end at once and their passkeys stop working.', `Revoke ${a.email}`))) return;
                  try {
                    await call('POST', 'admins/revoke', { adminId: a.id });
                    await adminsPage();
                    announce(`${a.email} revoked.`);
                  } catch (e) {
                    fail(error, e);
                  }
                },
              }, 'Revoke')
            : null))))),
    h('section', { 'aria-labelledby': 'invite-title' }, h('h2', { id: 'invite-title' }, 'Invite an administrator'), invite, made),
    error);
}

async function keysPage(): Promise<void> {
  const error = alertBox();
  const role = roleSelect();
  const description = h('input', { type: 'text', maxlength: 200, autocomplete: 'off' });
  const { keys } = await call<{ keys: Array<{ accessId: string; role: Role; description: string | null; createdAt: string }> }>('GET', 'keys');
  const create = h('form', {
    onsubmit: async (event: Event) => {
      event.preventDefault();
      try {
        const { key, keyFile } = await call<{ key: { accessId: string }; keyFile: unknown }>('POST', 'keys/create', { role: role.value, description: description.value });
        await keysPage();
        const link = offerOnce(keyFile, `${key.accessId}.key`, `Download the key file ${key.accessId}.key`);
        document.querySelector('.once')!.replaceChildren(h('p', {}, link), h('p', { class: 'notice' }, 'It holds the private key and is offered only now: the server keeps no copy.'));
        link.focus();
        announce(`Key ${key.accessId} created. Download its key file now.`);
      } catch (e) {
        fail(error, e);
      }
    },
  }, field('Role', role), field('Description', description), h('button', { type: 'submit' }, 'Create key'));
  render('API keys',
    h('table', {},
      h('caption', {}, 'Administration API keys'),
      h('thead', {}, h('tr', {}, ...['Access id', 'Role', 'Description', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...keys.map((k) =>
        h('tr', {}, h('th', { scope: 'row' }, k.accessId), h('td', {}, k.role), h('td', {}, k.description ?? '—'), h('td', {}, when(k.createdAt)),
          h('td', {}, h('button', {
            type: 'button',
            class: 'danger',
            'aria-label': `Delete key ${k.accessId}`,
            onclick: async () => {
              if (!(await confirmAction(`Delete key ${k.accessId}?`, 'Its tokens are refused at once.', `Delete ${k.accessId}`))) return;
              try {
                await call('POST', 'keys/delete', { accessId: k.accessId });
                await keysPage();
                announce(`Key ${k.accessId} deleted.`);
              } catch (e) {
                fail(error, e);
              }
            },
          }, 'Delete')))))),
    h('section', { 'aria-labelledby': 'create-title' }, h('h2', { id: 'create-title' }, 'Create a key'), create, h('div', { class: 'once' })),
    error);
}

async function oauthClientsPage(): Promise<void> {
  const error = alertBox();
  const { clients, scopes, algs, issuer } = await call<{ clients: OAuthClient[]; scopes: string[]; algs: string[]; issuer: string }>('GET', 'oauth-clients');
  const boxes = scopes.map((s) => h('input', { type: 'checkbox', name: 'scope', value: s, id: `scope-${s.replace(/[^a-z0-9]+/g, '-')}` }));
  const alg = h('select', { name: 'alg' }, ...algs.map((a) => h('option', { value: a }, a)));
  const description = h('input', { type: 'text', maxlength: 200, autocomplete: 'off' });
  const once = h('div', { class: 'once' });
  const create = h('form', {
    onsubmit: async (event: Event) => {
      event.preventDefault();
      error.textContent = '';
      const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
      if (chosen.length === 0) {
        error.textContent = 'Choose at least one scope.';
        boxes[0]?.focus();
        return;
      }
      try {
        const made = await call<{ client: OAuthClient; privateJwk: unknown; issuer: string }>('POST', 'oauth-clients/create', { scopes: chosen, alg: alg.value, description: description.value });
        await oauthClientsPage();
        const id = made.client.clientId;
        const link = offerOnce(made.privateJwk, `${id}.json`, `Download the private key ${id}.json`);
        document.querySelector('.once')!.replaceChildren(
          h('dl', {}, h('dt', {}, 'Client id'), h('dd', {}, id), h('dt', {}, 'Issuer'), h('dd', {}, made.issuer), h('dt', {}, 'Token endpoint'), h('dd', {}, `${made.issuer}/token`)),
          h('p', {}, link),
          h('p', { class: 'notice' }, 'It is the client\'s private key (a JWK), offered only now: the server keeps its public half only.'));
        link.focus();
        announce(`OAuth client ${id} created. Download its private key now.`);
      } catch (e) {
        fail(error, e);
      }
    },
  },
  h('fieldset', {}, h('legend', {}, 'Scopes'), ...boxes.map((b) => h('div', { class: 'check' }, b, h('label', { for: b.id }, b.value)))),
  field('Algorithm', alg), field('Description', description), h('button', { type: 'submit' }, 'Create client'));
  render('OAuth clients',
    h('p', {}, 'Clients of the Administration API that sign in with a private-key JWT (client credentials). Issuer: ', h('code', {}, issuer)),
    clients.length === 0
      ? h('p', {}, 'No OAuth client is registered.')
      : h('table', {},
          h('caption', {}, 'OAuth clients'),
          h('thead', {}, h('tr', {}, ...['Client id', 'Description', 'Scopes', 'Algorithm', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, ...clients.map((c) =>
            h('tr', {}, h('th', { scope: 'row' }, c.clientId), h('td', {}, c.description ?? '—'), h('td', {}, c.scopes.join(' ')), h('td', {}, c.alg), h('td', {}, when(c.createdAt)),
              h('td', {}, h('button', {
                type: 'button',
                class: 'danger',
                'aria-label': `Delete OAuth client ${c.clientId}`,
                onclick: async () => {
                  if (!(await confirmAction(`Delete OAuth client ${c.clientId}?`, 'Its access tokens are refused at once, and it can get no new one.', `Delete ${c.clientId}`, c.clientId))) return;
                  try {
                    await call('POST', 'oauth-clients/delete', { clientId: c.clientId });
                    await oauthClientsPage();
                    announce(`OAuth client ${c.clientId} deleted.`);
                  } catch (e) {
                    fail(error, e);
                  }
                },
              }, 'Delete')))))),
    h('section', { 'aria-labelledby': 'create-title' }, h('h2', { id: 'create-title' }, 'Create a client'), create, once),
    error);
}

// ---- routing ----

async function route(): Promise<void> {
  const [path = '', search = ''] = location.hash.slice(1).split('?');
  const [, page = 'search', arg = ''] = path.split('/');
  if (page === 'enrol') return enrolPage(arg);
  if (!me) {
    try {
      signedIn(await call('GET', 'session'));
    } catch {
      return signInPage();
    }
  }
  renderNav();
  try {
    if (page === 'user') return await userPage(decodeURIComponent(arg));
    if (page === 'activity') return await activityPage(new URLSearchParams(search));
    if (page === 'admins' && me!.role === 'SuperAdmin') return await adminsPage();
    if (page === 'keys' && me!.role === 'SuperAdmin') return await keysPage();
    if (page === 'oauth' && me!.role === 'SuperAdmin') return await oauthClientsPage();
    searchPage();
  } catch (e) {
    if (e instanceof ApiFailure && e.status === 401) return;
    const error = alertBox();
    render('Something went wrong', error);
    fail(error, e);
  }
}

whenSignedOut((message) => {
  me = null;
  setCsrfToken('');
  renderNav();
  signInPage(message);
});
window.addEventListener('hashchange', () => void route());
void route();
