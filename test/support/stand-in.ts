import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the network between the client and the server: a loopback HTTP server that
 * answers the next requests as scripted (a 503, a 429 with Retry-After, a reset connection, no
 * answer at all) and passes every other request through to the real server untouched. It records
 * what it saw, so that a test can count tries and tokens.
 */
export type Step =
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Drops the connection without answering. */
  | 'reset'
  /** Never answers. */
  | 'hang'
  | 'pass';

export interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface StandIn {
  url: string;
  seen: Seen[];
  /** Steps for the next requests, first first; once empty, requests pass through (or `then`). */
  script: Step[];
  /** What to do once the script is spent; default 'pass'. */
  then: Step;
  close(): Promise<void>;
}

function passThrough(target: URL, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const upstream = httpRequest(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  upstream.end(body);
}

/** A stand-in in front of `target` (the real server's URL, e.g. startServer().url). */
export async function startStandIn(target: string, script: Step[] = []): Promise<StandIn> {
  const to = new URL(target);
  const state: StandIn = { url: '', seen: [], script, then: 'pass', close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
      const step = state.script.shift() ?? state.then;
      if (step === 'pass') passThrough(to, req, Buffer.concat(chunks), res);
      else if (step === 'reset') req.socket.destroy();
      else if (step === 'hang') return;
      else {
        res.writeHead(step.status, { 'content-type': 'application/json', ...step.headers });
        res.end(step.body ?? '');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** A 429 in the server's shape. */
export const tooMany = (retryAfter: string): Step => ({
  status: 429,
  headers: { 'retry-after': retryAfter },
  body: JSON.stringify({ code: '429 TOO_MANY_REQUESTS', description: 'Too many requests.' }),
});

/** A 503 as a load balancer might send it. */
export const unavailable: Step = {
  status: 503,
  body: JSON.stringify({ code: '503 SERVICE_UNAVAILABLE', description: 'The service is not ready.' }),
};
