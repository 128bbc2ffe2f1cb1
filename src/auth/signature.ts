import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * Checks the RS256 signature of a token's signing input (`header.payload`) against a PEM public
 * key. The signature is the token's third segment as sent, already checked to be canonical
 * base64url. The token verifier decides everything else; this is only the one expensive step.
 */
export interface SignatureChecker {
  check(publicKeyPem: string, signingInput: string, signature: string): boolean | Promise<boolean>;
  close(): Promise<void>;
}

/** Parsed public keys by PEM: parsing one costs about as much as a signature check. */
function keyCache(): (pem: string) => KeyObject {
  const keys = new Map<string, KeyObject>();
  return (pem) => {
    let k = keys.get(pem);
    if (!k) {
      k = createPublicKey(pem);
      if (keys.size >= 64) keys.clear();
      keys.set(pem, k);
    }
    return k;
  };
}

/** On the calling thread. The signing input is ASCII (two base64url segments and a dot). */
export function makeInlineSignatureChecker(): SignatureChecker {
  const keyOf = keyCache();
  return {
    check: (pem, input, signature) => verify('sha256', Buffer.from(input, 'latin1'), keyOf(pem), Buffer.from(signature, 'base64url')),
    close: async () => {},
  };
}

/**
 * The worker's side, as plain JavaScript (a worker does not inherit the TypeScript loader). It
 * answers each batch with one byte per check: 1 valid, 0 not, 2 the check itself threw (a stored
 * PEM that does not parse), which fails the caller's check as it would have failed inline.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
parentPort.on('message', ({ first, pems, inputs, signatures }) => {
  const results = new Uint8Array(pems.length);
  for (let i = 0; i < pems.length; i++) {
    try {
      let key = keys.get(pems[i]);
      if (!key) {
        key = createPublicKey(pems[i]);
        if (keys.size >= 64) keys.clear();
        keys.set(pems[i], key);
      }
      results[i] = verify('sha256', Buffer.from(inputs[i], 'latin1'), key, Buffer.from(signatures[i], 'base64url')) ? 1 : 0;
    } catch {
      results[i] = 2;
    }
  }
  parentPort.postMessage({ first, results }, [results.buffer]);
});
`;

interface Pending {
  resolve: (valid: boolean) => void;
  reject: (error: Error) => void;
  pem: string;
  input: string;
  signature: string;
}

/**
 * On a worker thread of its own, so that signature checks of fresh tokens (about 40 µs each
 * under load) run beside the event loop instead of on it: a flood of freshly signed tokens no
 * longer delays every other request, and a server on two cores uses the second. The checks that
 * arrive during one turn of the event loop travel as one message and come back as one. Should the
 * worker fail, checks continue on the calling thread; none is lost or answered wrongly, and
 * `onWorkerFailure` hears of it once (for the log).
 */
export function makeThreadSignatureChecker({
  onWorkerFailure = () => {},
  workerSource = WORKER_SOURCE,
}: {
  onWorkerFailure?: (error: unknown) => void;
  /** The worker's program; tests give a broken one to see the fallback. */
  workerSource?: string;
} = {}): SignatureChecker & { onWorker(): boolean } {
  const inline = makeInlineSignatureChecker();
  let failed = false;
  /** Checks sent to the worker and not yet answered, by sequence number. */
  const inFlight = new Map<number, Pending>();
  let queue: Pending[] = [];
  let nextSeq = 0;
  let flushScheduled = false;

  const checkHere = (p: Pending): void => {
    try {
      p.resolve(inline.check(p.pem, p.input, p.signature) as boolean);
    } catch (error) {
      p.reject(error as Error);
    }
  };

  const fallBack = (): void => {
    if (failed) return;
    failed = true;
    const stranded = [...inFlight.values(), ...queue];
    inFlight.clear();
    queue = [];
    for (const p of stranded) checkHere(p);
  };

  const start = (): Worker => {
    const w = new Worker(workerSource, { eval: true, execArgv: [] });
    w.unref();
    w.on('message', ({ first, results }: { first: number; results: Uint8Array }) => {
      for (let i = 0; i < results.length; i++) {
        const p = inFlight.get(first + i);
        if (!p) continue;
        inFlight.delete(first + i);
        if (results[i] === 2) p.reject(new Error('the stored public key could not be used'));
        else p.resolve(results[i] === 1);
      }
    });
    const failure = (error: unknown): void => {
      if (failed) return;
      fallBack();
      onWorkerFailure(error);
    };
    w.on('error', failure);
    w.on('exit', (code) => failure(new Error(`signature worker exited with code ${code}`)));
    return w;
  };

  // Started now, not at the first check: a worker takes some 60 ms to boot, which the first
  // requests after a (re)start would otherwise wait for.
  const worker = start();

  const flush = (): void => {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    if (failed) {
      for (const p of batch) checkHere(p);
      return;
    }
    const first = nextSeq;
    nextSeq += batch.length;
    batch.forEach((p, i) => inFlight.set(first + i, p));
    worker.postMessage({
      first,
      pems: batch.map((p) => p.pem),
      inputs: batch.map((p) => p.input),
      signatures: batch.map((p) => p.signature),
    });
  };

  return {
    /** Whether checks still go to the worker (false once it failed or was closed). */
    onWorker: () => !failed,
    check(pem, input, signature) {
      if (failed) return inline.check(pem, input, signature);
      return new Promise<boolean>((resolve, reject) => {
        queue.push({ resolve, reject, pem, input, signature });
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      });
    },
    async close() {
      // Anything still waiting is answered here rather than dropped.
      fallBack();
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
