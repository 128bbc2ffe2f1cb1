/**
 * What the security suites share: the demo directory's identifiers, hand-built JWS, a snapshot of
 * everything a call could change, the two error shapes of the wire, and a raw HTTP/1.1 client
 * over a net socket (for requests that fetch refuses to send: any bytes in the method, path and
 * headers, oversized headers, a body that never ends).
 */
import assert from 'node:assert/strict';
import { sign as rsaSign, type KeyObject } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { demoRegistrations, demoUsers } from '../../src/domain/demo-seed.ts';
import type { Store } from '../../src/domain/store.ts';
import { API } from './server.ts';

/** `npm run test:stress` sets STRESS=1: the long form of every suite. */
export const STRESS = process.env.STRESS === '1' || process.env.STRESS === 'true';

export const DEVICE = '140100080';
export const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';
export const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c';
export const ALEX = '26c1e3d6-b31c-803e-cf7f-bdbe7687a72b';

/** A call that changes the demo directory when made with a good token. */
export interface Mutation {
  method: string;
  /** Under the REST base, e.g. `/v1/ds100/disable/otp`. */
  path: string;
  operation: string;
  body: Record<string, string>;
}

/** One of each mutating call, each of which changes something in a fresh demo directory. */
export const MUTATIONS: Mutation[] = [
  { method: 'PATCH', path: '/v1/ds100/disable/otp', operation: 'ds100.disable', body: { deviceSerialNumber: DEVICE, userId: JOHN } },
  { method: 'PATCH', path: '/v1/ds100/enable/otp', operation: 'ds100.enable', body: { deviceSerialNumber: DEVICE, userId: JANE } },
  {
    method: 'DELETE',
    path: '/v1/ds100/delete/otp',
    operation: 'ds100.delete',
    body: { tokenSerialNumber: '014010008038', deviceSerialNumber: DEVICE, userId: JOHN },
  },
  { method: 'PATCH', path: '/v1/ds100/clearPin/otp', operation: 'ds100.clearPin', body: { tokenSerialNumber: '014010008039', userId: JOHN } },
];

export const b64url = (v: string | Buffer | object): string =>
  (Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))).toString('base64url');

/**
 * A compact JWS built by hand: `header` and `payload` are JSON texts (sent byte for byte, so they
 * may hold duplicate names) or objects; the RS256 signature is made with `key` over exactly the
 * two segments sent, which may be given already encoded (`encoded`) to test the encoding itself.
 */
export function jws(
  header: string | object,
  payload: string | object,
  key: KeyObject,
  encoded: { header?: string; payload?: string } = {},
): string {
  const input = `${encoded.header ?? b64url(header)}.${encoded.payload ?? b64url(payload)}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

/**
 * Everything a call to the API could change, as text: every credential of the demo device, the
 * demo users and every API key. Credential rows are read through the store, outside any
 * transaction, so only committed state is seen.
 */
export async function snapshot(store: Store): Promise<string> {
  const devices = [...new Set(demoRegistrations.map((r) => r.deviceSerialNumber))];
  const credentials = (await Promise.all(devices.map((d) => store.credentialsByDevice(d)))).flat();
  const tokens = await Promise.all(demoRegistrations.map((r) => store.credentialByTokenSerial(r.tokenSerialNumber!)));
  const users = await Promise.all(demoUsers.map((u) => store.userById(u.id!)));
  const keys = await store.apiKeys();
  return JSON.stringify({ credentials, tokens, users, keys });
}

const SPRING_KEYS = ['timestamp', 'status', 'error', 'message', 'path'];
/** The four messages of a refused token (spec 1, error bodies), and the one of a role that may not. */
export const TOKEN_REFUSED = 'Server failed to process provided access token';
export const TOKEN_EXPIRED = 'Expired Access Token is not allowed';
export const INVALID_AUDIENCE = 'Invalid audience';
export const INVALID_ACCESS_ID = 'Invalid Access Id';
export const NOT_AUTHORIZED = 'Not authorized to perform the request.';
const FORBIDDEN_MESSAGES = [TOKEN_REFUSED, TOKEN_EXPIRED, INVALID_AUDIENCE, INVALID_ACCESS_ID, NOT_AUTHORIZED];

/** The Spring-shaped 403 (spec 1) with `message`, for a call to `path`. */
export function assertSpring403(status: number, body: unknown, path: string, message: string, what: string): void {
  assert.equal(status, 403, `${what}: status (body ${JSON.stringify(body)})`);
  const b = body as Record<string, unknown>;
  assert.ok(b && typeof b === 'object', `${what}: a JSON object`);
  assert.deepEqual(Object.keys(b), SPRING_KEYS, `${what}: Spring keys`);
  assert.ok(Number.isSafeInteger(b.timestamp) && (b.timestamp as number) > 1_600_000_000_000, `${what}: timestamp in epoch ms`);
  assert.deepEqual(
    { status: b.status, error: b.error, message: b.message, path: b.path },
    { status: 403, error: 'Forbidden', message, path },
    what,
  );
}

const PHRASE = /^(\d{3}) [A-Z0-9]+(?:_[A-Z0-9]+)*$/;

/**
 * Spec 1: every error body is one of two shapes. Returns a description of what is wrong, or null.
 * `{code, description}` exactly, `code` the status and its reason phrase; or the Spring 403.
 */
export function errorShapeProblem(status: number, contentType: string | null, text: string): string | null {
  if (status < 400) return null;
  if (!/^application\/json\b/i.test(contentType ?? '')) return `content-type ${contentType} for ${status}`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `a ${status} whose body is not JSON: ${text.slice(0, 200)}`;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return `a ${status} whose body is not an object`;
  const b = body as Record<string, unknown>;
  const keys = Object.keys(b).join(',');
  if (status === 403) {
    if (keys !== SPRING_KEYS.join(',')) return `a 403 with keys ${keys}`;
    if (b.status !== 403 || b.error !== 'Forbidden' || !FORBIDDEN_MESSAGES.includes(b.message as string)) {
      return `a 403 body ${text.slice(0, 300)}`;
    }
    if (typeof b.path !== 'string' || !Number.isSafeInteger(b.timestamp)) return `a 403 body ${text.slice(0, 300)}`;
    return null;
  }
  if (keys !== 'code,description') return `a ${status} with keys ${keys}: ${text.slice(0, 300)}`;
  const m = PHRASE.exec(String(b.code));
  if (!m || Number(m[1]) !== status) return `a ${status} with code ${JSON.stringify(b.code)}`;
  if (typeof b.description !== 'string' || b.description.length === 0) return `a ${status} without a description`;
  if (status === 500 && b.description !== 'An internal error occurred.') return `a 500 that says ${b.description}`;
  return null;
}

export interface RawReply {
  /** null when the server closed the connection without an answer. */
  status: number | null;
  headers: Record<string, string>;
  body: Buffer;
  /** How the exchange ended: the server closed it, it reset, or our deadline passed. */
  end: 'closed' | 'reset' | 'timeout';
  raw: Buffer;
}

/** Splits one HTTP/1.1 response (Content-Length or chunked, or until close) out of `raw`. */
export function parseResponse(raw: Buffer): Omit<RawReply, 'end' | 'raw'> & { complete: boolean } {
  const head = raw.indexOf('\r\n\r\n');
  if (head < 0) return { status: null, headers: {}, body: Buffer.alloc(0), complete: false };
  const lines = raw.subarray(0, head).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let rest = raw.subarray(head + 4);
  let complete = false;
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    complete = rest.length >= n;
    rest = rest.subarray(0, n);
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', at);
      if (eol < 0) break;
      const size = parseInt(rest.subarray(at, eol).toString('latin1'), 16);
      if (!Number.isFinite(size)) break;
      if (size === 0) {
        complete = true;
        break;
      }
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    rest = Buffer.concat(parts);
  }
  return { status: status ? Number(status[1]) : null, headers, body: rest, complete };
}

/**
 * Sends `request` (bytes, as is) on a new loopback connection and reads until the server closes
 * it, or until one whole response has arrived when `untilResponse` is set; `halfClose` sends a FIN
 * after the request (a client that has nothing more to say); `timeoutMs` bounds
 * the whole exchange (an AbortSignal destroys the socket), so a hang is reported, not waited on.
 */
export function rawRequest(
  port: number,
  request: Buffer | string,
  { timeoutMs = 10_000, untilResponse = false, halfClose = false }: { timeoutMs?: number; untilResponse?: boolean; halfClose?: boolean } = {},
): Promise<RawReply> {
  return new Promise((resolve) => {
    const signal = AbortSignal.timeout(timeoutMs);
    const chunks: Buffer[] = [];
    let ended: RawReply['end'] | undefined;
    const socket: Socket = connect({ port, host: '127.0.0.1', signal });
    const finish = (how: RawReply['end']) => {
      if (ended) return;
      ended = how;
      socket.destroy();
      const raw = Buffer.concat(chunks);
      const { complete: _, ...parsed } = parseResponse(raw);
      resolve({ ...parsed, end: how, raw });
    };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (untilResponse && parseResponse(Buffer.concat(chunks)).complete) finish('closed');
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.name === 'AbortError' ? 'timeout' : e.code === 'ECONNRESET' ? 'reset' : 'closed'));
    if (halfClose) socket.end(request);
    else socket.write(request);
  });
}

/** The REST base path: `/AdminInterface/restapi`. */
export const REST = API;
