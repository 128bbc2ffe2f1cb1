import { Command } from 'commander';
import { VERSION } from '../contract/version.ts';
import { registerAdminCommands } from './admins.ts';
import { registerAuditCommand } from './audit.ts';
import { EXIT, reportError } from './common.ts';
import { registerDirectoryCommands } from './directory.ts';
import { registerEmulateCommand } from './emulate.ts';
import { registerKeyCommands } from './keys.ts';
import { registerLogsCommand } from './logs.ts';
import { registerOAuthCommands } from './oauth.ts';
import { registerOtpCommands } from './otp.ts';
import { registerServeCommand } from './serve.ts';
import { registerTokenCommand } from './token.ts';
import { registerUserCommands } from './user.ts';

const program = new Command('ds100-admin')
  .description('SecurID Cloud Administration API for DS100 authenticators: server and administration')
  .version(VERSION)
  // Usage errors in one line, like every other error: commander's own text spans several
  // ("error: ...", "(Did you mean ...?)"), so it is folded and the --help hint appended.
  .configureOutput({
    outputError: (text, write) =>
      write(`ds100-admin: ${text.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (run with --help for usage)\n`),
  });
program.exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage));

registerServeCommand(program);
registerEmulateCommand(program);
registerKeyCommands(program);
registerOAuthCommands(program);
registerAdminCommands(program);
registerDirectoryCommands(program);
registerAuditCommand(program);
registerLogsCommand(program);
registerOtpCommands(program);
registerUserCommands(program);
registerTokenCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const { message, exitCode } = reportError(error);
  process.stderr.write(`ds100-admin: ${message}\n`);
  process.exitCode = exitCode;
}
