import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { clientAssertion, loadJwkFile, parseJwk } from '@ds100-admin/sdk';
import { makeOAuthClientService, oauthIssuer, parseScopes } from '../auth/oauth-clients.ts';
import { makeSigningKeys } from '../auth/signing-keys.ts';
import { systemClock } from '../domain/clock.ts';
import { OAUTH_ALGS, SCOPES, type OAuthAlg, type Scope } from '../domain/types.ts';
import { ApiError } from '../errors.ts';
import { cliActor, usingStore, withDataOptions, type DataOptions } from './common.ts';
import { DEFAULT_PUBLIC_URL } from './keys.ts';

const scopeList = (value: string): Scope[] => {
  try {
    return parseScopes(value);
  } catch (error) {
    if (error instanceof ApiError) throw new InvalidArgumentError(error.description);
    throw error;
  }
};

/** `oauth-clients create|list|delete` and `oauth-keys rotate|list` (contract 10). */
export function registerOAuthCommands(program: Command): void {
  const clients = program.command('oauth-clients').description('manage OAuth 2.0 clients (client credentials with a private-key JWT)');
  withDataOptions(
    clients
      .command('create')
      .description('register a client; without --public-key, make its key pair and write the private key once as <clientId>.json (a JWK, mode 0600)')
      .requiredOption('--scope <scopes>', `the scopes it may be granted, space-separated (${SCOPES.join(', ')})`, scopeList)
      .addOption(new Option('--alg <alg>', 'the algorithm of its assertions (default: the key\'s, or RS256 for a key made here)').choices([...OAUTH_ALGS]))
      .option('--public-key <file>', 'register this public key (PEM or JWK) that the client made itself, instead of making one')
      .option('--description <text>', 'what the client is for')
      .option('--out <dir>', 'folder for the private JWK file (default: <data>/oauth-clients)')
      .addOption(
        new Option('--public-url <url>', `URL of the server, for the issuer printed (default: the one the server last ran with, else ${DEFAULT_PUBLIC_URL})`).env(
          'DS100_PUBLIC_URL',
        ),
      ),
  ).action(
    async (o: DataOptions & { scope: Scope[]; alg?: OAuthAlg; publicKey?: string; description?: string; out?: string; publicUrl?: string }) => {
      const publicKey = o.publicKey === undefined ? undefined : await readFile(o.publicKey, 'utf8');
      const { client, path, publicUrl } = await usingStore(o, async (store) => {
        // As `keys create`: the issuer is the server's, so by default the URL it runs with.
        const kept = await store.setting('publicUrl');
        const given = o.publicUrl?.replace(/\/+$/, '');
        if (given !== undefined && kept !== null && given !== kept) {
          console.error(`ds100-admin: warning: --public-url ${given} is not the URL the server runs with (${kept}): its issuer is ${oauthIssuer(kept)}`);
        }
        const made = await makeOAuthClientService({ store, clock: systemClock }).create(cliActor(), {
          scopes: o.scope,
          ...(o.alg ? { alg: o.alg } : {}),
          ...(publicKey !== undefined ? { publicKey } : { saveTo: o.out ?? join(o.data, 'oauth-clients') }),
          description: o.description ?? null,
        });
        return { ...made, publicUrl: given ?? kept ?? DEFAULT_PUBLIC_URL };
      });
      console.log(`client id: ${client.clientId}`);
      console.log(`issuer:    ${oauthIssuer(publicUrl)}`);
      console.log(`scopes:    ${client.scopes.join(' ')}`);
      console.log(`alg, kid:  ${client.alg} ${client.kid}`);
      if (path) console.log(path);
    },
  );
  withDataOptions(clients.command('list').description('list clients (id, alg, scopes, created, description)').option('--json', 'print JSON')).action(
    async (o: DataOptions & { json?: boolean }) => {
      const list = await usingStore(o, (store) => store.oauthClients());
      if (o.json) {
        console.log(JSON.stringify(list.map(({ publicKeyPem: _, ...c }) => c), null, 2));
        return;
      }
      for (const c of list) console.log([c.clientId, c.alg, c.createdAt, c.scopes.join(' '), c.description ?? ''].join('  '));
    },
  );
  withDataOptions(clients.command('delete').description('delete a client; its access tokens are refused at once').argument('<clientId>')).action(
    async (clientId: string, o: DataOptions) => {
      await usingStore(o, (store) => makeOAuthClientService({ store, clock: systemClock }).delete(cliActor(), clientId));
      console.log(`deleted ${clientId}`);
    },
  );

  clients
    .command('assertion')
    .description("print a client assertion (private_key_jwt, 300 s) for a token request made by hand, e.g. with curl")
    .requiredOption('--jwk-file <path>', "the client's private JWK file")
    .requiredOption('--client-id <id>', 'the client id')
    .requiredOption('--issuer <url>', 'the issuer, e.g. https://127.0.0.1:8443/oauth')
    .action(async (o: { jwkFile: string; clientId: string; issuer: string }) => {
      const key = parseJwk(await loadJwkFile(o.jwkFile));
      console.log(clientAssertion(key, o.clientId, `${o.issuer.replace(/\/+$/, '')}/token`, Date.now()));
    });

  const keys = program.command('oauth-keys').description("the server's access token signing keys (ES256, kept in the store)");
  withDataOptions(
    keys.command('rotate').description('retire the current signing key and make a new one; tokens of the old one verify until they expire'),
  ).action(async (o: DataOptions) => {
    const kid = await usingStore(o, (store) => makeSigningKeys({ store, clock: systemClock }).rotate());
    console.log(`new signing key ${kid}`);
  });
  withDataOptions(keys.command('list').description('list signing keys (kid, created, retired, verifies until)').option('--json', 'print JSON')).action(
    async (o: DataOptions & { json?: boolean }) => {
      const list = (await usingStore(o, (store) => store.signingKeys())).map(({ kid, createdAt, retiredAt, notAfter }) => ({ kid, createdAt, retiredAt, notAfter }));
      if (o.json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      for (const k of list) console.log([k.kid, k.createdAt, k.retiredAt ?? 'current', k.notAfter ?? ''].join('  '));
    },
  );
}
