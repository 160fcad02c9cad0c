import { Option, type Command } from 'commander';
import type { CommandContext } from './cli.program';
import * as documents from './documents';

/** `apikey create|list|revoke`, over the same GraphQL endpoint (the CLI stays an HTTP client). */
export function addApiKeyCommands(program: Command, context: CommandContext): void {
  const apikey = program.command('apikey').description('manage API keys of the service');

  apikey
    .command('create')
    .description('create an API key; the key is printed once and cannot be shown again')
    .option('--name <name>', 'a label to tell the key apart')
    .option('--user <name>', 'owner of the key (created when missing); default: the owner of the key in use')
    .addOption(new Option('--permission <permission...>', 'permissions of the key').choices(['AUDIT', 'INGEST']).default(['AUDIT']))
    .action(async (options: { name?: string; user?: string; permission: string[] }, command: Command) => {
      const client = context.client(command);
      const response = await client.request(documents.CREATE_API_KEY, {
        data: { name: options.name, userName: options.user, permissions: options.permission },
      });
      context.print(client, response);
      context.io.stderr('Store this key now: the service keeps only its hash.\n');
    });

  apikey
    .command('list')
    .description('list API keys (never the keys themselves)')
    .action(async (_options: unknown, command: Command) => {
      const client = context.client(command);
      context.print(client, await client.request(documents.LIST_API_KEYS));
    });

  apikey
    .command('revoke <id>')
    .description('revoke an API key; requests with it fail from now on')
    .action(async (id: string, _options: unknown, command: Command) => {
      const client = context.client(command);
      context.print(client, await client.request(documents.REVOKE_API_KEY, { id }));
    });
}
