import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { makeThreadSignatureChecker } from '../auth/signature.ts';
import { makeOAuthServer, type OAuthServer } from '../auth/oauth.ts';
import { makeSigningKeys } from '../auth/signing-keys.ts';
import { makeTokenVerifier, type TokenVerifier } from '../auth/token.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import { makeCredentialService } from '../domain/credentials.ts';
import { makeDirectoryService } from '../domain/directory.ts';
import { makeEventLogService } from '../domain/event-log.ts';
import { printableJson } from '../domain/printable.ts';
import { makeMemoryRateLimiter, type RateLimiter } from '../ratelimit/limiter.ts';
import type { Store } from '../domain/store.ts';
import { tlsOptions, type TlsPair } from '../tls/pair.ts';
import './context.ts';
import { installAudit } from './plugins/audit.ts';
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './plugins/errors.ts';
import { installGuard } from './plugins/guard.ts';
import { installMetrics } from './plugins/metrics.ts';
import { clearPinRoute } from './routes/clear-pin.ts';
import { deleteOtpRoute } from './routes/delete-otp.ts';
import { exportLogRoutes } from './routes/export-logs.ts';
import { healthRoutes } from './routes/health.ts';
import { lookupDs100Route } from './routes/lookup-ds100.ts';
import { lookupUserRoute } from './routes/lookup-user.ts';
import { oauthRoutes } from './routes/oauth.ts';
import { installOpenApi } from './routes/openapi.ts';
import { setOtpStatusRoutes } from './routes/set-otp-status.ts';
import { requestLogger } from './request-logger.ts';
import { registerApiRoutes } from './route.ts';
import { DEFAULT_RATE_LIMITS, connectionLimits, proxyTrust, type ConnectionLimits, type RateLimits, type TrustedProxies } from './settings.ts';
import { BODY_LIMIT } from '../contract/limits.ts';
import { DEFAULT_CUSTOMER_NAME } from '../domain/types.ts';
import type { SignInLimits } from './console/session.ts';

export * from './settings.ts';

export interface AppOptions {
  store: Store;
  /** The URL clients reach this server at; `aud` is checked against it. A function may give it once listening. */
  publicUrl: string | (() => string);
  clock?: Clock;
  rateLimits?: RateLimits;
  limiter?: RateLimiter;
  logger?: FastifyServerOptions['logger'] | false;
  /** Take the client address from `X-Forwarded-For`, as written by these proxies (default: never). */
  trustProxy?: TrustedProxies;
  tokenCacheSize?: number;
  /** Check the RS256 signatures of fresh tokens on a worker thread, off the event loop (`serve` does). */
  signatureThread?: boolean;
  /** Connection cap and timeouts; each defaults to DEFAULT_CONNECTION_LIMITS. */
  connections?: Partial<ConnectionLimits>;
  /** Export the process's own metrics (CPU, memory, event loop) at `/metrics` too. */
  processMetrics?: boolean;
  /** Serve HTTPS with this certificate and key (`replaceTlsPair` swaps them later); plain HTTP without. */
  tls?: TlsPair;
  /** The tenant's name in key files and the event log (default `ds100-admin`). */
  customerName?: string;
  /**
   * The console at `/console/`: false turns it off (`serve --no-console`); `assets` is the built
   * bundle's folder (default: the package's dist/console).
   */
  console?: false | { assets?: string; signInLimits?: SignInLimits };
}

/**
 * HSTS over TLS: a year, the figure browsers' preload rules ask for. Without includeSubDomains:
 * the API's host says nothing about other services under its name, which may serve plain
 * HTTP; that is for whoever runs the domain to declare.
 */
export const HSTS = 'max-age=31536000';

/**
 * The HTTP server: the six endpoints of the contract under `/AdminInterface/restapi`, behind the
 * guard (rate limits, token, role or scope) and the audit trail; the OAuth token endpoint under
 * `/oauth`; health checks and the OpenAPI document.
 */
export function buildApp(options: AppOptions): FastifyInstance & { verifier: TokenVerifier; oauth: OAuthServer } {
  const clock = options.clock ?? systemClock;
  const { store } = options;
  const rateLimits = options.rateLimits ?? DEFAULT_RATE_LIMITS;
  const limits = connectionLimits(options.connections);
  // Node checks the header and request timeouts on this period: a fraction of the shorter one.
  const shortest = Math.min(...[limits.headersTimeout, limits.requestTimeout].filter((t) => t > 0), 4000);
  const bootId = randomBytes(4).toString('hex');
  let seq = 0;
  const serverOptions = {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    connectionsCheckingInterval: Math.max(25, Math.floor(shortest / 4)),
  };

  const logger = options.logger === true ? {} : options.logger;
  const app = Fastify({
    // Log lines carry values from requests (a token's header, a body's text in a parser error):
    // pino's JSON escapes the C0 controls, and this the rest a terminal would act on.
    logger: logger ? { ...logger, hooks: { ...logger.hooks, streamWrite: printableJson } } : false,
    // The audit trail is the access log; a log line per request would double it (and halve throughput).
    logController: new LogController({ disableRequestLogging: true }),
    // Each request's logger is made when it first logs (request-logger.ts).
    childLoggerFactory: requestLogger,
    bodyLimit: BODY_LIMIT,
    // A body naming `__proto__` (or `constructor.prototype`) is parsed like any other member:
    // JSON.parse makes it an own property, never the prototype, and the schema refuses every
    // property the contract does not name, so the caller hears "Wrong number of properties"
    // (or the bad value it sent), not that valid JSON is not JSON. Nothing reads a body but by
    // the names of its documented fields.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    trustProxy: options.trustProxy === undefined ? false : proxyTrust(options.trustProxy),
    genReqId: () => `${bootId}-${(++seq).toString(36)}`,
    requestIdHeader: false,
    return503OnClosing: true,
    connectionTimeout: limits.connectionTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    requestTimeout: limits.requestTimeout,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    // Fastify hands Node's HTTPS server only the `https` options, so the timeouts go in both.
    http: serverOptions,
    ...(options.tls ? { https: { ...serverOptions, ...tlsOptions(options.tls) } } : {}),
    // Requests refused before routing answer in the wire's application error shape too.
    clientErrorHandler,
    frameworkErrors,
    ajv: {
      // The wire is strict: no coercion ("123" is not 123), no defaults, no silent removal of
      // extra properties; `verbose` lets the error handler name the rule a property broke.
      customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, verbose: true },
    },
  });
  app.decorate('clock', clock);
  app.server.maxConnections = limits.maxConnections > 0 ? limits.maxConnections : Infinity;
  // Only JSON is accepted (spec 1); any other content type is refused as a 400.
  app.removeContentTypeParser('text/plain');

  const signatures = options.signatureThread
    ? makeThreadSignatureChecker({
        onWorkerFailure: (error) => app.log.error({ err: error }, 'signature worker failed: checking signatures on the event loop'),
      })
    : undefined;
  const verifier = makeTokenVerifier({
    findKey: (accessId) => store.apiKey(accessId),
    publicUrl: options.publicUrl,
    clock,
    ...(options.tokenCacheSize !== undefined ? { cacheSize: options.tokenCacheSize } : {}),
    ...(signatures ? { signatures } : {}),
  });
  const signingKeys = makeSigningKeys({ store, clock });
  const oauth = makeOAuthServer({
    store,
    clock,
    signingKeys,
    publicUrl: options.publicUrl,
    ...(options.tokenCacheSize !== undefined ? { cacheSize: options.tokenCacheSize } : {}),
  });
  const credentials = makeCredentialService({ store, clock });
  const directory = makeDirectoryService({ store, clock });
  const publicUrl = typeof options.publicUrl === 'function' ? options.publicUrl : () => options.publicUrl as string;
  const eventLog = makeEventLogService({
    store,
    clock,
    server: () => ({ serverUrl: `${publicUrl().replace(/\/+$/, '')}/AdminInterface/`, customerName: options.customerName ?? DEFAULT_CUSTOMER_NAME }),
  });

  if (signatures) app.addHook('onClose', () => signatures.close());
  app.decorateRequest('principal', null);
  app.decorateRequest('actor', null);
  // Callback style: an async hook costs a promise per request, and this one never waits.
  const tls = options.tls !== undefined;
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('X-Request-Id', request.id);
    reply.header('Cache-Control', 'no-store');
    if (tls) reply.header('Strict-Transport-Security', HSTS);
    done();
  });
  if (options.trustProxy !== undefined) {
    // The rate limit and the audit trail take `request.ip` for the client's address: from a
    // forwarded chain that names no IP address there (text, a port), the socket's is taken.
    app.addHook('onRequest', (request, _reply, done) => {
      if (isIP(request.ip) === 0) delete request.raw.headers['x-forwarded-for'];
      done();
    });
  }
  installErrorHandling(app);
  installOpenApi(app);
  const metrics = installMetrics(app, {
    store,
    limiter: options.limiter ?? makeMemoryRateLimiter(clock),
    processMetrics: options.processMetrics ?? false,
  });
  installAudit(app, { store, clock });
  installGuard(app, {
    verifier,
    oauth,
    limiter: metrics.limiter,
    perAddress: rateLimits.perAddress,
    perKey: rateLimits.perKey,
  });

  void app.register(healthRoutes(store));
  void app.register(
    oauthRoutes({ oauth, signingKeys, store, clock, limiter: metrics.limiter, perAddress: rateLimits.perAddress }),
  );
  registerApiRoutes(app, [
    ...setOtpStatusRoutes(credentials),
    deleteOtpRoute(credentials),
    clearPinRoute(credentials),
    lookupDs100Route(credentials),
    lookupUserRoute(directory),
    ...exportLogRoutes(eventLog),
  ]);
  if (options.console !== false) {
    const consoleOptions = options.console;
    // Loaded as the app gets ready, not with this file: the console's modules (WebAuthn and the
    // certificate parsers it brings) are most of what a start loads, and `emulate`, `serve
    // --no-console` and the other commands never use them. Its routes and request decoration
    // live in a context of their own, under the root's hooks and error handler as before.
    void app.register(async (scope) => {
      const { BUILT_ASSETS, installConsole } = await import('./console/index.ts');
      installConsole(scope, {
        store,
        clock,
        publicUrl,
        limiter: metrics.limiter,
        credentials,
        directory,
        assets: consoleOptions?.assets ?? BUILT_ASSETS,
        ...(consoleOptions?.signInLimits ? { signInLimits: consoleOptions.signInLimits } : {}),
      });
    });
  }
  return Object.assign(app, { verifier, oauth });
}
