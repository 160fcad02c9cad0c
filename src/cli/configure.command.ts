import type { Command } from 'commander';
import { CliError } from './cli.errors';
import { configFilePath, saveProfile } from './cli-config.store';
import type { CommandContext, GlobalOptions } from './cli.program';

/**
 * `audit-export configure [--profile p] --host <url> --api-key <key>`: stores a profile.
 * Missing values are asked for when stdin is a terminal (the key without echo).
 */
export function addConfigureCommand(program: Command, { io }: CommandContext): void {
  program
    .command('configure')
    .description('store the service URL and API key of a profile (file mode 0600)')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<GlobalOptions>();
      let host = options.host;
      let apiKey = options.apiKey;
      if ((!host || !apiKey) && !io.interactive) {
        throw new CliError('configure needs --host <url> and --api-key <key> when not run in a terminal', 2);
      }
      if (!host) host = (await io.prompt('Service URL (e.g. https://audit.example.com): ', false)).trim();
      if (!apiKey) apiKey = (await io.prompt('API key: ', true)).trim();
      const file = configFilePath(io.env);
      saveProfile(file, options.profile, { host, apiKey });
      // The key is deliberately not printed back, not even a prefix.
      io.stdout(`Saved profile "${options.profile}" (host ${host}) to ${file}\n`);
    });
}
