import { Option, type Command } from 'commander';
import { Ds100AdminClient } from '@ds100-admin/sdk';
import { parseCount } from './common.ts';

/**
 * `token --key-file F`: prints a signed JWT for tools that cannot sign one (curl, Postman), the
 * same token the SDK would send.
 */
export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description('print an RS256 JWT signed with a key file, for curl and other tools: Authorization: Bearer <token>')
    .addOption(new Option('--key-file <path>', 'the Administration API key file (<accessID>.key)').env('DS100_KEY_FILE').makeOptionMandatory())
    .option('--audience <url>', "the JWT aud (default: the key file's adminRestApiUrl)")
    .option('--lifetime <seconds>', 'seconds until the token expires (120 to 3600)', parseCount('--lifetime', 120, 3600), 600)
    .action(
      async (o: { keyFile: string; audience?: string; lifetime: number }) => {
        const client = await Ds100AdminClient.fromKeyFile(o.keyFile, {
          tokenLifetimeSeconds: o.lifetime,
          ...(o.audience ? { audience: o.audience } : {}),
        });
        console.log(await client.token());
      },
    );
}
