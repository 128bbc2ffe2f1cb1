import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { makeKeyService } from '../auth/keys.ts';
import { systemClock } from '../domain/clock.ts';
import { ROLES, type Role } from '../domain/types.ts';
import { cliActor, usingStore, withDataOptions, type DataOptions } from './common.ts';

/** The public URL a key file names when neither `--public-url` nor a server on the data folder says otherwise: the server's default. */
export const DEFAULT_PUBLIC_URL = 'http://127.0.0.1:8080';

/** `keys create|list|delete`: Administration API keys. */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('manage Administration API keys (at most 10)');
  withDataOptions(
    keys
      .command('create')
      .description('create a key and write its key file <accessID>.key (mode 0600); prints the path last')
      .addOption(new Option('--role <role>', 'what the key may do').choices([...ROLES]).makeOptionMandatory())
      .option('--description <text>', 'what the key is for')
      .option('--out <dir>', 'folder for the key file (default: <data>/keys)')
      .addOption(
        new Option('--public-url <url>', `URL of the server, written into the key file (default: the one the server last ran with, else ${DEFAULT_PUBLIC_URL})`).env(
          'DS100_PUBLIC_URL',
        ),
      ),
  ).action(async (o: DataOptions & { role: Role; description?: string; out?: string; publicUrl?: string }) => {
    const { path } = await usingStore(o, async (store) => {
      const kept = await store.setting('publicUrl');
      const given = o.publicUrl?.replace(/\/+$/, '');
      if (given !== undefined && kept !== null && given !== kept) {
        console.error(`ds100-admin: warning: --public-url ${given} is not the URL the server runs with (${kept}): that server refuses this key's tokens`);
      }
      const publicUrl = given ?? kept ?? DEFAULT_PUBLIC_URL;
      return makeKeyService({ store, clock: systemClock, publicUrl }).create(cliActor(), o.role, o.description ?? null, o.out ?? join(o.data, 'keys'));
    });
    console.log(path);
  });
  withDataOptions(keys.command('list').description('list keys (access id, role, created, description)').option('--json', 'print JSON')).action(
    async (o: DataOptions & { json?: boolean }) => {
      const list = await usingStore(o, (store) => store.apiKeys());
      if (o.json) {
        console.log(JSON.stringify(list.map(({ publicKeyPem: _, ...k }) => k), null, 2));
        return;
      }
      for (const k of list) console.log([k.accessId, k.role.padEnd(13), k.createdAt, k.description ?? ''].join('  '));
    },
  );
  withDataOptions(keys.command('delete').description('delete a key; its tokens are refused at once').argument('<accessID>')).action(
    async (accessId: string, o: DataOptions) => {
      await usingStore(o, (store) => makeKeyService({ store, clock: systemClock, publicUrl: DEFAULT_PUBLIC_URL }).delete(cliActor(), accessId));
      console.log(`deleted ${accessId}`);
    },
  );
}
