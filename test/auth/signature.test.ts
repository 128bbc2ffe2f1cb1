/**
 * The signature checkers behind the token verifier: the worker thread's answers match the
 * inline checker's for valid, tampered and wrongly keyed inputs and an unusable stored key, many checks in one
 * batch come back to the right callers, and closing with checks in flight still answers them.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { makeInlineSignatureChecker, makeThreadSignatureChecker, type SignatureChecker } from '../../src/auth/signature.ts';

const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const alice = pair();
const mallory = pair();
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;
const ALICE = pem(alice.publicKey);

/** A signing input and its base64url signature by `key`. */
function signed(n: number, key = alice.privateKey): { input: string; signature: string } {
  const input = `${Buffer.from(JSON.stringify({ alg: 'RS256' })).toString('base64url')}.${Buffer.from(JSON.stringify({ n })).toString('base64url')}`;
  return { input, signature: sign('sha256', Buffer.from(input), key).toString('base64url') };
}

const cases = (): Array<{ what: string; pem: string; input: string; signature: string; valid: boolean }> => {
  const a = signed(1);
  const m = signed(2, mallory.privateKey);
  return [
    { what: 'valid', pem: ALICE, ...a, valid: true },
    { what: 'input changed after signing', pem: ALICE, input: `${a.input}x`, signature: a.signature, valid: false },
    { what: 'signed by another key', pem: ALICE, ...m, valid: false },
    { what: 'checked against the other key', pem: pem(mallory.publicKey), ...a, valid: false },
  ];
};

for (const [name, make] of [['inline', makeInlineSignatureChecker], ['worker thread', makeThreadSignatureChecker]] as const) {
  describe(`the ${name} checker`, () => {
    const checker: SignatureChecker = make();
    after(() => checker.close());

    for (const c of cases()) {
      test(`${c.what}: ${c.valid ? 'valid' : 'not valid'}`, async () => {
        assert.equal(await checker.check(c.pem, c.input, c.signature), c.valid);
      });
    }

    test('a stored PEM that does not parse fails the check (a server fault), not a refusal', async () => {
      const { input, signature } = signed(3);
      await assert.rejects(async () => checker.check('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', input, signature));
    });
  });
}

describe('the worker thread checker', () => {
  test('200 checks sent in one turn, every third tampered, each answer reaches its caller', async () => {
    const failures: unknown[] = [];
    const checker = makeThreadSignatureChecker({ onWorkerFailure: (e) => failures.push(e) });
    try {
      const inputs = Array.from({ length: 200 }, (_, i) => signed(i));
      const answers = await Promise.all(
        inputs.map(({ input, signature }, i) => checker.check(ALICE, i % 3 === 0 ? `${input}A` : input, signature)),
      );
      assert.deepEqual(answers, inputs.map((_, i) => i % 3 !== 0));
      // Answered by the worker, not by the inline fallback that would hide a broken worker.
      assert.equal(checker.onWorker(), true);
      assert.deepEqual(failures, []);
    } finally {
      await checker.close();
    }
  });

  test('closed with checks still queued, it answers each of them rightly, then checks inline', async () => {
    const failures: unknown[] = [];
    const checker = makeThreadSignatureChecker({ onWorkerFailure: (e) => failures.push(e) });
    const good = signed(7);
    // Start the worker, then queue a batch and close before its answer can arrive.
    assert.equal(await checker.check(ALICE, good.input, good.signature), true);
    const pending = [checker.check(ALICE, good.input, good.signature), checker.check(ALICE, `${good.input}A`, good.signature)];
    await checker.close();
    assert.equal(checker.onWorker(), false);
    assert.deepEqual(await Promise.all(pending), [true, false]);
    assert.equal(await checker.check(ALICE, good.input, good.signature), true, 'and checks inline after closing');
    assert.deepEqual(failures, [], 'closing is not a failure');
  });

  test('a worker that dies is reported once, and every check is still answered rightly, inline', async () => {
    const failures: unknown[] = [];
    const checker = makeThreadSignatureChecker({ onWorkerFailure: (e) => failures.push(e), workerSource: "throw new Error('boom')" });
    try {
      const good = signed(9);
      const answers = await Promise.all([
        checker.check(ALICE, good.input, good.signature),
        checker.check(ALICE, `${good.input}A`, good.signature),
      ]);
      assert.deepEqual(answers, [true, false]);
      // The worker's death may be reported after the answers: wait for it, within bounds.
      for (let waited = 0; failures.length === 0 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      assert.equal(checker.onWorker(), false);
      assert.equal(failures.length, 1);
      assert.match(String(failures[0]), /boom/);
      assert.equal(await checker.check(ALICE, good.input, good.signature), true);
    } finally {
      await checker.close();
    }
  });
});
