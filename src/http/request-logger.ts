/**
 * Every request's logger (`request.log`), made when it first logs a line.
 *
 * Fastify gives each request a pino child bound to its id. Making one (a new object, its bindings
 * serialized, its redaction set up) took 3.5 µs of a toggle's 86 µs of server CPU, measured side
 * by side (docs/performance.md), for a logger that at the default level logs nothing on almost
 * every request. This one is a small object that makes the child at its first line at an enabled
 * level; the lines it logs are the child's, id and redaction included.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from 'pino';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** The pino logger Fastify makes from its `logger` option: it can say which levels are on. */
interface ParentLogger extends FastifyBaseLogger {
  isLevelEnabled?(level: string): boolean;
}

class RequestLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: ParentLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get made(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }

  get level(): LevelWithSilentOrString {
    return this.#child?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.made.level = level;
  }

  fatal(...args: unknown[]): void {
    this.line('fatal', args);
  }
  error(...args: unknown[]): void {
    this.line('error', args);
  }
  warn(...args: unknown[]): void {
    this.line('warn', args);
  }
  info(...args: unknown[]): void {
    this.line('info', args);
  }
  debug(...args: unknown[]): void {
    this.line('debug', args);
  }
  trace(...args: unknown[]): void {
    this.line('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.made.child(bindings, options);
  }

  /** A line at `level`, by the child; dropped without making it when the level is off (and the child's level is the parent's). */
  private line(level: Level, args: unknown[]): void {
    if (this.#child === undefined && this.options.level === undefined && this.parent.isLevelEnabled?.(level) === false) return;
    const child = this.made;
    Reflect.apply(child[level], child, args);
  }
}

/** Fastify's `childLoggerFactory`: a request's logger, made at its first line. */
export const requestLogger = (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger =>
  new RequestLogger(logger, bindings, options);
