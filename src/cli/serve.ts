import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { writeKeyFile } from '../auth/keyfile.ts';
import { makeKeyService } from '../auth/keys.ts';
import { systemClock } from '../domain/clock.ts';
import { demoRegistrations, demoUsers } from '../domain/demo-seed.ts';
import { makeDirectoryService } from '../domain/directory.ts';
import type { Actor } from '../domain/types.ts';
import { DEFAULT_RATE_LIMITS, REDACTED_PATHS, buildApp } from '../http/app.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import { parseCount, withDataOptions, type DataOptions } from './common.ts';

interface ServeOptions extends DataOptions {
  host: string;
  port: number;
  publicUrl?: string;
  demo?: boolean;
  ratePerKey: number;
  ratePerAddress: number;
  trustProxy?: boolean;
  logLevel: string;
}

const serverActor: Actor = { subject: 'server', role: null, clientAddress: 'local', requestId: null };

/** Loads the vendor examples' directory, leaving alone whatever is already there. */
async function loadDemo(store: Store): Promise<number> {
  const directory = makeDirectoryService({ store, clock: systemClock });
  let added = 0;
  for (const u of demoUsers) {
    if (await store.userById(u.id!)) continue;
    await directory.addUser(serverActor, u);
    added++;
  }
  for (const r of demoRegistrations) {
    if (await store.credentialByTokenSerial(r.tokenSerialNumber!)) continue;
    await directory.register(serverActor, r);
    added++;
  }
  return added;
}

export function registerServeCommand(program: Command): void {
  withDataOptions(
    program
      .command('serve')
      .description('run the API server; on an empty data folder, create the database and a bootstrap SuperAdmin key file')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'port to listen on (0: any free port)', parseCount('--port', 0, 65535), 8080)
      .option('--public-url <url>', 'URL clients use to reach this server; JWT aud is checked against it (default: http://<host>:<port>)')
      .option('--demo', "load the users and DS100s that the vendor's published examples need")
      .option('--rate-per-key <n>', 'requests per minute per API key (also the burst)', parseCount('--rate-per-key', 1, 1e9), DEFAULT_RATE_LIMITS.perKey.capacity)
      .option(
        '--rate-per-address <n>',
        'requests per minute per client address, checked before the token (also the burst)',
        parseCount('--rate-per-address', 1, 1e9),
        DEFAULT_RATE_LIMITS.perAddress.capacity,
      )
      .option('--trust-proxy', 'take the client address from X-Forwarded-For (behind a load balancer)')
      .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info')),
  ).action(async (o: ServeOptions) => {
    const store = await openStore({ dataDir: o.data, ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}) });
    let publicUrl = o.publicUrl?.replace(/\/+$/, '');
    const app = buildApp({
      store,
      publicUrl: () => publicUrl!,
      rateLimits: {
        perKey: { capacity: o.ratePerKey, windowSeconds: 60 },
        perAddress: { capacity: o.ratePerAddress, windowSeconds: 60 },
      },
      trustProxy: o.trustProxy ?? false,
      logger: { level: o.logLevel, redact: REDACTED_PATHS },
    });

    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      app.log.info({ signal }, 'shutting down: finishing in-flight requests');
      void app
        .close()
        .then(() => store.close())
        .then(
          () => process.exit(0),
          (err: unknown) => {
            app.log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));

    await app.listen({ host: o.host, port: o.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : o.port;
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    publicUrl ??= `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

    if ((await store.apiKeys()).length === 0) {
      const { keyFile } = await makeKeyService({ store, clock: systemClock, publicUrl }).create(serverActor, 'SuperAdmin', 'bootstrap key');
      const path = await writeKeyFile(join(o.data, 'keys'), keyFile);
      console.log(`bootstrap SuperAdmin key file: ${path}`);
    }
    if (o.demo) console.log(`demo directory loaded (${await loadDemo(store)} records added)`);
    console.log(`ds100-admin listening on http://${host}:${port} (public URL ${publicUrl}, store ${store.engine})`);
  });
}
