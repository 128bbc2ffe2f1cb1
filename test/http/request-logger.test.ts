import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { requestLogger } from '../../src/http/request-logger.ts';

/** A pino logger at `level` whose lines land in `lines`, and a count of the children made from it. */
function parentLogger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level, redact: ['secret'] }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const made = { children: 0 };
  const child = logger.child;
  logger.child = function (this: typeof logger, ...args: Parameters<typeof child>) {
    made.children++;
    return child.apply(this, args);
  } as typeof logger.child;
  return { logger, lines, made };
}

describe("a request's logger", () => {
  test('makes no child and writes nothing for a line below the level', () => {
    const { logger, lines, made } = parentLogger('warn');
    const log = requestLogger(logger, { reqId: 'r-1' }, {});
    log.info({ reason: 'refused' }, 'access token refused');
    log.debug('detail');
    assert.equal(made.children, 0);
    assert.deepEqual(lines, []);
  });

  test("writes an enabled line as the child would: the request's id bound, the parent's redaction kept; one child for many lines", () => {
    const { logger, lines, made } = parentLogger('info');
    const log = requestLogger(logger, { reqId: 'r-2' }, {});
    log.info({ secret: 'hunter2' }, 'first');
    log.error(new Error('boom'), 'second');
    assert.equal(made.children, 1);
    assert.deepEqual(
      lines.map((l) => [l.reqId, l.msg, l.secret]),
      [
        ['r-2', 'first', '[Redacted]'],
        ['r-2', 'second', undefined],
      ],
    );
    assert.equal((lines[1]!.err as { message: string }).message, 'boom');
  });

  test("a child of it carries both bindings; its level is the parent's until set", () => {
    const { logger, lines } = parentLogger('warn');
    const log = requestLogger(logger, { reqId: 'r-3' }, {});
    assert.equal(log.level, 'warn');
    log.child({ part: 'guard' }).warn('w');
    assert.deepEqual([lines[0]!.reqId, lines[0]!.part, lines[0]!.msg], ['r-3', 'guard', 'w']);
    log.level = 'debug';
    log.debug('now written');
    assert.equal(log.level, 'debug');
    assert.equal(logger.level, 'warn', "the parent's level is not changed");
    assert.deepEqual(lines.map((l) => l.msg), ['w', 'now written']);
  });
});
