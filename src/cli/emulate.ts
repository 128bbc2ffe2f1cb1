import { Option, type Command } from 'commander';
import { DEFAULT_RATE_LIMITS } from '../http/settings.ts';
import { parseCount } from './common.ts';

interface EmulateOptions {
  seed?: string;
  demo?: boolean;
  host: string;
  port: number;
  ratePerKey: number;
  ratePerAddress: number;
  logLevel: string;
  tlsSelfSigned?: boolean;
}

export function registerEmulateCommand(program: Command): void {
  program
    .command('emulate')
    .description(
      'run the server for integration tests: a throwaway store, seeded, with the control API under /_emulator/ (reset, seed, clock, faults, request journal); prints one JSON line (base URL, control token, key files, an OAuth client with every scope) once it listens',
    )
    .option('--seed <file>', 'YAML (.yaml, .yml) or JSON file of users, registrations, keys and OAuth clients to start with, and to go back to on reset')
    .option('--demo', "load the users and DS100s that the vendor's published examples need")
    .option('--tls-self-signed', 'serve HTTPS with a certificate from a CA made for this run (the JSON line names it as caFile)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', parseCount('--port', 0, 65535), 0)
    .option('--rate-per-key <n>', 'requests per minute per API key (also the burst)', parseCount('--rate-per-key', 1, 1e9), DEFAULT_RATE_LIMITS.perKey.capacity)
    .option('--rate-per-address <n>', 'requests per minute per client address (also the burst)', parseCount('--rate-per-address', 1, 1e9), DEFAULT_RATE_LIMITS.perAddress.capacity)
    .addOption(new Option('--log-level <level>', 'log level of the server log, on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('silent'))
    .action(async (o: EmulateOptions) => {
      const { startEmulator } = await import('../emulator/index.ts');
      const emulator = await startEmulator({
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.demo ? { demo: true } : {}),
        ...(o.tlsSelfSigned ? { tlsSelfSigned: true } : {}),
        host: o.host,
        port: o.port,
        rateLimits: { perKey: { capacity: o.ratePerKey, windowSeconds: 60 }, perAddress: { capacity: o.ratePerAddress, windowSeconds: 60 } },
        logger: o.logLevel === 'silent' ? false : { level: o.logLevel, stream: process.stderr },
      });
      const { control: _control, close, ...info } = emulator;
      let closing = false;
      const shutdown = () => {
        if (closing) return;
        closing = true;
        close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
      // A harness reads this one line; nothing else is written to stdout.
      process.stdout.write(`${JSON.stringify(info)}\n`);
    });
}
