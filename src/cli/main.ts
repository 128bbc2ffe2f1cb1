import { Command } from 'commander';
import { VERSION } from '../http/app.ts';
import { registerAuditCommand } from './audit.ts';
import { EXIT, reportError } from './common.ts';
import { registerDirectoryCommands } from './directory.ts';
import { registerKeyCommands } from './keys.ts';
import { registerServeCommand } from './serve.ts';

const program = new Command('ds100-admin')
  .description('SecurID Cloud Administration API for DS100 authenticators: server and administration')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ outputError: (text, write) => write(text) });
program.exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage));

registerServeCommand(program);
registerKeyCommands(program);
registerDirectoryCommands(program);
registerAuditCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const { message, exitCode } = reportError(error);
  process.stderr.write(`ds100-admin: ${message}\n`);
  process.exitCode = exitCode;
}
