import type { Command } from 'commander';
import { clientFrom, printJson, printRecord, wantsJson, withClientOptions, type ClientCliOptions } from './client.ts';

/** `user lookup --email`: an e-mail address to the user (and the id the DS100 calls take). */
export function registerUserCommands(program: Command): void {
  const user = program.command('user').description("look users up on a server with an Administration API key file or an OAuth client");
  withClientOptions(
    user
      .command('lookup')
      .description('the user with an e-mail address (matched without regard to case)')
      .requiredOption('--email <email>', 'e-mail address')
      .option('--search-unsynched', 'also search users not yet synchronized (vendor cloud)'),
  ).action(
    async (o: ClientCliOptions & { email: string; searchUnsynched?: boolean }) => {
      const found = await (await clientFrom(o)).lookupUser({ email: o.email, ...(o.searchUnsynched ? { searchUnsynched: true } : {}) });
      if (wantsJson(o)) printJson(found);
      else printRecord(found);
    },
  );
}
