/** The console's JSON calls: same origin, the session cookie, and the CSRF token on changes. */
let csrfToken = '';

export const setCsrfToken = (token: string): void => void (csrfToken = token);

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called when a call finds the session over (idle, expired, revoked): the sign-in page takes over. */
let onSignedOut: (message: string) => void = () => {};
export const whenSignedOut = (handler: (message: string) => void): void => void (onSignedOut = handler);

export async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(`api/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = (await res.json().catch(() => ({}))) as { description?: string; message?: string };
  if (!res.ok) {
    const message = data.description ?? data.message ?? `The server answered ${res.status}.`;
    if (res.status === 401 && !path.startsWith('signin') && !path.startsWith('enrol') && path !== 'session') {
      onSignedOut('Your session has ended. Sign in again.');
      // The sign-in page has taken over: the page that asked must not draw over it, so its call never settles.
      return new Promise<T>(() => {});
    }
    throw new ApiFailure(res.status, message);
  }
  return data as T;
}

export const query = (params: Record<string, string | number | undefined>): string =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
