import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { makeKeyService } from '../auth/keys.ts';
import { systemClock } from '../domain/clock.ts';
import { loadDemo } from '../domain/demo-seed.ts';
import { startAuditPruning } from '../domain/retention.ts';
import type { Actor } from '../domain/types.ts';
import {
  DEFAULT_CONNECTION_LIMITS, DEFAULT_RATE_LIMITS, REDACTED_PATHS, parseTrustedProxies, type ConnectionLimits, type TrustedProxies,
} from '../http/settings.ts';
import type { SharedRateLimiter } from '../ratelimit/redis.ts';
import { openStore } from '../store/open.ts';
import { loadTlsPair, replaceTlsPair, TlsPairError, type TlsPair } from '../tls/pair.ts';
import { plainHttpWarning } from '../tls/plain-http.ts';
import { CliError, EXIT, parseCount, withDataOptions, type DataOptions } from './common.ts';

interface ServeOptions extends DataOptions, ConnectionLimits {
  host: string;
  port: number;
  publicUrl?: string;
  demo?: boolean;
  console: boolean;
  ratePerKey: number;
  ratePerAddress: number;
  trustProxy?: TrustedProxies;
  logLevel: string;
  redisUrl?: string;
  redisKeyPrefix?: string;
  dbTimeout?: number;
  dbPoolSize?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: boolean;
}

const MS = (name: string) => parseCount(name, 0, 86_400_000);

const trustedProxies = (value: string): TrustedProxies => {
  try {
    return parseTrustedProxies(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

const serverActor: Actor = { kind: 'operator', subject: 'server', role: null, clientAddress: 'local', requestId: null };

export function registerServeCommand(program: Command): void {
  withDataOptions(
    program
      .command('serve')
      .description('run the API server; on an empty data folder, create the database and a bootstrap SuperAdmin key file')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'port to listen on (0: any free port)', parseCount('--port', 0, 65535), 8080)
      .option('--public-url <url>', 'URL clients use to reach this server; JWT aud is checked against it (default: http://<host>:<port>)')
      .option('--demo', "load the users and DS100s that the vendor's published examples need, and invite a demo SuperAdmin to the console")
      .option('--no-console', 'do not serve the console at /console/')
      .option('--rate-per-key <n>', 'requests per minute per API key (also the burst)', parseCount('--rate-per-key', 1, 1e9), DEFAULT_RATE_LIMITS.perKey.capacity)
      .option(
        '--rate-per-address <n>',
        'requests per minute per client address, checked before the token (also the burst)',
        parseCount('--rate-per-address', 1, 1e9),
        DEFAULT_RATE_LIMITS.perAddress.capacity,
      )
      .option(
        '--trust-proxy <hops|addresses>',
        'take the client address from X-Forwarded-For as written by the proxies in front: their number (e.g. 1), or their addresses and CIDR ranges, comma-separated (e.g. 10.0.0.0/8)',
        trustedProxies,
      )
      .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain allowed); SIGHUP reloads it with --tls-key').conflicts('tlsSelfSigned'))
      .addOption(new Option('--tls-key <file>', 'the PEM private key (RSA or EC) of --tls-cert').conflicts('tlsSelfSigned'))
      .option('--tls-self-signed', 'serve HTTPS with a certificate from a local CA made under <data>/tls/ (prints how to trust it)')
      .option('--max-connections <n>', 'open client connections at most; more are closed on arrival (0: no cap)', parseCount('--max-connections', 0, 1e6), DEFAULT_CONNECTION_LIMITS.maxConnections)
      .option('--max-requests-per-socket <n>', 'requests served on one keep-alive connection before it is closed (0: no limit)', parseCount('--max-requests-per-socket', 0, 1e9), DEFAULT_CONNECTION_LIMITS.maxRequestsPerSocket)
      .option('--connection-timeout <ms>', 'close a connection with no traffic for this long (0: never)', MS('--connection-timeout'), DEFAULT_CONNECTION_LIMITS.connectionTimeout)
      .option('--keep-alive-timeout <ms>', 'close an idle keep-alive connection after this long', MS('--keep-alive-timeout'), DEFAULT_CONNECTION_LIMITS.keepAliveTimeout)
      .option('--headers-timeout <ms>', 'request line and headers must arrive within this, else 408 (at most --request-timeout)', MS('--headers-timeout'), DEFAULT_CONNECTION_LIMITS.headersTimeout)
      .option('--request-timeout <ms>', 'the whole request, body included, must arrive within this, else 408 (0: no limit)', MS('--request-timeout'), DEFAULT_CONNECTION_LIMITS.requestTimeout)
      .option('--redis-url <url>', 'Redis shared by all instances for the rate limits (or REDIS_URL); without it each instance counts alone', process.env.REDIS_URL)
      .option('--redis-key-prefix <prefix>', 'prefix of the rate-limit keys in Redis (default: ds100-admin:rl:)', process.env.REDIS_KEY_PREFIX)
      .option('--db-timeout <ms>', 'longest wait for the database (PostgreSQL: a connection, a statement or a lock; SQLite: the write lock another process holds); a request fails after it (default: 5000)', parseCount('--db-timeout', 100, 600_000))
      .option('--db-pool-size <n>', 'PostgreSQL: most connections of this instance (default: 10)', parseCount('--db-pool-size', 1, 1000))
      .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info')),
  ).action(async (o: ServeOptions) => {
    if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) {
      throw new CliError(`${o.tlsCert === undefined ? '--tls-key' : '--tls-cert'} needs ${o.tlsCert === undefined ? '--tls-cert' : '--tls-key'} too`, EXIT.usage);
    }
    // A certificate that cannot be served stops the start before the database is opened.
    const givenPair = o.tlsCert && o.tlsKey ? loadPair(o.tlsCert, o.tlsKey) : undefined;
    // The store and the limiter exist before the app whose logger they report faults to.
    // Fastify and the routes load here, not when the CLI starts: other commands never need them.
    const { buildApp } = await import('../http/app.ts');
    const sink: { logger?: Pick<ReturnType<typeof buildApp>['log'], 'warn' | 'info' | 'error'> } = {};
    const log = {
      warn: (obj: object, msg: string) => (sink.logger ? sink.logger.warn(obj, msg) : console.error(msg, obj)),
      info: (obj: object, msg: string) => (sink.logger ? sink.logger.info(obj, msg) : console.error(msg, obj)),
      error: (obj: object, msg: string) => (sink.logger ? sink.logger.error(obj, msg) : console.error(msg, obj)),
    };
    const store = await openStore({
      dataDir: o.data,
      ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
      timeoutMs: o.dbTimeout,
      poolSize: o.dbPoolSize,
      log,
      server: true,
    });
    let limiter: SharedRateLimiter | undefined;
    let app: ReturnType<typeof buildApp> | undefined;
    let pruning: { stop(): Promise<void> } | undefined;
    const closeAll = async (): Promise<void> => {
      await app?.close();
      await pruning?.stop();
      await limiter?.close();
      await store.close();
    };
    try {
      // Loaded only when asked for, like the PostgreSQL store: a one-machine server needs neither client.
      limiter = o.redisUrl
        ? (await import('../ratelimit/redis.ts')).makeRedisRateLimiter({
            url: o.redisUrl,
            ...(o.redisKeyPrefix ? { keyPrefix: o.redisKeyPrefix } : {}),
            clock: systemClock,
            log,
          })
        : undefined;
      let publicUrl = o.publicUrl?.replace(/\/+$/, '');
      const listenHost = o.host.includes(':') ? `[${o.host}]` : o.host;
      const defaultHost = listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost;
      // Made while the data folder is this server's (the store holds its lock).
      const selfSigned = o.tlsSelfSigned
        ? await (await import('../tls/self-signed.ts')).ensureSelfSigned({ dataDir: o.data, publicHost: publicUrl ? new URL(publicUrl).hostname : defaultHost })
        : undefined;
      const tls: TlsPair | undefined = givenPair ?? selfSigned?.pair;
      const started = buildApp({
        store,
        publicUrl: () => publicUrl!,
        rateLimits: {
          perKey: { capacity: o.ratePerKey, windowSeconds: 60 },
          perAddress: { capacity: o.ratePerAddress, windowSeconds: 60 },
        },
        ...(o.trustProxy !== undefined ? { trustProxy: o.trustProxy } : {}),
        logger: { level: o.logLevel, redact: REDACTED_PATHS },
        ...(limiter ? { limiter } : {}),
        processMetrics: true,
        signatureThread: true,
        ...(tls ? { tls } : {}),
        ...(o.console ? {} : { console: false as const }),
        connections: {
          maxConnections: o.maxConnections,
          maxRequestsPerSocket: o.maxRequestsPerSocket,
          connectionTimeout: o.connectionTimeout,
          keepAliveTimeout: o.keepAliveTimeout,
          headersTimeout: o.headersTimeout,
          requestTimeout: o.requestTimeout,
        },
      });
      app = started;
      sink.logger = started.log;

      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) return;
        closing = true;
        started.log.info({ signal }, 'shutting down: finishing in-flight requests');
        closeAll().then(
          () => process.exit(0),
          (err: unknown) => {
            started.log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
      if (tls) {
        // New connections get the files' pair from now on; open ones finish with the old. A pair
        // that does not load leaves the one in use, and the log says why.
        let reloading = Promise.resolve();
        const reload = async (): Promise<void> => {
          try {
            const pair = o.tlsSelfSigned
              ? (await (await import('../tls/self-signed.ts')).ensureSelfSigned({ dataDir: o.data, publicHost: new URL(publicUrl!).hostname })).pair
              : loadTlsPair(o.tlsCert!, o.tlsKey!);
            replaceTlsPair(started.server, pair);
            started.log.info({ serial: pair.serial, validTo: pair.validTo }, 'SIGHUP: TLS certificate and key reloaded');
          } catch (error) {
            started.log.error({ reason: (error as Error).message }, 'SIGHUP: TLS certificate and key not reloaded; still serving the ones in use');
          }
        };
        process.on('SIGHUP', () => (reloading = reloading.then(reload)));
      }

      // Start with shared rate limits when Redis answers; an unreachable one was logged, and the
      // instance serves with its own buckets until it is back.
      if (limiter) await limiter.connected(2000);
      await started.listen({ host: o.host, port: o.port });
      const address = started.server.address();
      const port = typeof address === 'object' && address ? address.port : o.port;
      const scheme = tls ? 'https' : 'http';
      publicUrl ??= `${scheme}://${defaultHost}:${port}`;
      // Kept in the store, so that `keys create` names the URL this server checks `aud` against.
      const kept = await store.setting('publicUrl');
      if (kept !== publicUrl) {
        if (kept !== null) {
          log.warn({ previous: kept, publicUrl }, 'the public URL changed: tokens from key files that name the previous one are refused');
        }
        const url = publicUrl;
        await store.transaction((tx) => tx.putSetting('publicUrl', url));
      }
      // The address bound, not the name given: a host name may stand for loopback or for all interfaces.
      const bound = typeof address === 'object' && address ? address.address : o.host;
      const exposed = plainHttpWarning({ host: bound, tls: tls !== undefined, trustProxy: o.trustProxy });
      if (exposed) {
        started.log.warn(exposed);
        console.error(`ds100-admin: warning: ${exposed}`);
      }

      if ((await store.apiKeys()).length === 0) {
        const made = await makeKeyService({ store, clock: systemClock, publicUrl }).createFirst(serverActor, join(o.data, 'keys'));
        if (made) console.log(`bootstrap SuperAdmin key file: ${made.path}`);
      }
      if (o.demo) console.log(`demo directory loaded (${await loadDemo(store, systemClock, serverActor)} records added)`);
      if (selfSigned) {
        const { files, ca, server, reason } = selfSigned;
        console.log(`TLS: CA ${ca}, server certificate ${server}${reason ? ` (${reason})` : ''}, valid until ${selfSigned.pair.validTo}`);
        console.log(`TLS CA certificate: ${files.caFile}`);
        console.log(`  trust it: curl --cacert ${files.caFile} ${publicUrl}/healthz`);
        console.log(`            REQUESTS_CA_BUNDLE=${files.caFile} (Python requests), NODE_EXTRA_CA_CERTS=${files.caFile} (Node), ds100-admin otp ... --ca ${files.caFile}`);
      }
      if (o.demo && o.console) {
        const { DEMO_ADMIN_EMAIL, consoleBase, inviteDemoAdmin } = await import('../auth/admins.ts');
        const invited = await inviteDemoAdmin(store, systemClock, serverActor, publicUrl);
        console.log(invited ? `console: enrol the demo SuperAdmin ${DEMO_ADMIN_EMAIL} at ${invited}` : `console: the demo SuperAdmin ${DEMO_ADMIN_EMAIL} is enrolled; sign in at ${consoleBase(publicUrl)}/console/`);
      }
      pruning = startAuditPruning({ store, clock: systemClock, log });
      console.log(`ds100-admin listening on ${scheme}://${listenHost}:${port} (public URL ${publicUrl}, store ${store.engine})`);
    } catch (error) {
      // A start that failed ends the process (the caller reports the error and the exit code),
      // so that a supervisor sees it: nothing opened may keep it alive.
      await closeAll().catch(() => {});
      throw error;
    }
  });
}

function loadPair(certFile: string, keyFile: string): TlsPair {
  try {
    return loadTlsPair(certFile, keyFile);
  } catch (error) {
    if (error instanceof TlsPairError) throw new CliError(error.message, EXIT.failure);
    throw error;
  }
}
