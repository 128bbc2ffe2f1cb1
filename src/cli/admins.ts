import { Option, type Command } from 'commander';
import { systemClock } from '../domain/clock.ts';
import { printable } from '../domain/printable.ts';
import { ROLES, type Role } from '../domain/types.ts';
import { cliActor, usingStore, withDataOptions, type DataOptions } from './common.ts';
import { DEFAULT_PUBLIC_URL } from './keys.ts';

/** Loaded when an `admins` command runs: WebAuthn's modules are no start-up cost of the other commands. */
const adminsModule = () => import('../auth/admins.ts');

const publicUrlOption = () =>
  new Option('--public-url <url>', 'URL of the server, the start of the enrolment link').default(process.env.DS100_PUBLIC_URL ?? DEFAULT_PUBLIC_URL);

/** `admins invite|list|revoke`: the people who use the console, each signing in with a passkey. */
export function registerAdminCommands(program: Command): void {
  const admins = program.command('admins').description('manage console administrators (they sign in with a passkey or FIDO2 security key)');
  withDataOptions(
    admins
      .command('invite')
      .description('invite an administrator: prints a one-time enrolment link (valid 24 h) that registers their passkey')
      .requiredOption('--email <email>', "the administrator's e-mail address")
      .addOption(new Option('--role <role>', 'what they may do').choices([...ROLES]).makeOptionMandatory())
      .addOption(publicUrlOption()),
  ).action(async (o: DataOptions & { email: string; role: Role; publicUrl: string }) => {
    const { makeAdminService } = await adminsModule();
    const publicUrl = o.publicUrl.replace(/\/+$/, '');
    const { link, expiresAt } = await usingStore(o, (store) =>
      makeAdminService({ store, clock: systemClock, publicUrl: () => publicUrl }).invite(cliActor(), { email: o.email, role: o.role }),
    );
    console.error(`enrolment link for ${o.email} (${o.role}), single use, valid until ${expiresAt}:`);
    console.log(link);
  });
  withDataOptions(admins.command('list').description('list administrators (id, role, state, e-mail address)').option('--json', 'print JSON')).action(
    async (o: DataOptions & { json?: boolean }) => {
      const { makeAdminService } = await adminsModule();
      const list = await usingStore(o, (store) => makeAdminService({ store, clock: systemClock, publicUrl: () => DEFAULT_PUBLIC_URL }).list());
      if (o.json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      for (const a of list) console.log([a.id, a.role.padEnd(13), a.state.padEnd(7), printable(a.email)].join('  '));
    },
  );
  withDataOptions(
    admins.command('revoke').description('revoke an administrator: their sessions end at once, their passkeys stop working').argument('<id|email>'),
  ).action(async (who: string, o: DataOptions) => {
    const { makeAdminService } = await adminsModule();
    const admin = await usingStore(o, (store) => makeAdminService({ store, clock: systemClock, publicUrl: () => DEFAULT_PUBLIC_URL }).revoke(cliActor(), who));
    console.log(`revoked ${printable(admin.email)} (${admin.id})`);
  });
}
