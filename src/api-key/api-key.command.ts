import 'reflect-metadata';
import { Command } from 'commander';
import pino from 'pino';
import { createApp } from '../app/app';
import { nodeVersionNote } from '../common/node-version';
import { DomainError } from '../common/errors';

/**
 * `npm run apikey:create -- --user <name> --permission AUDIT [--permission INGEST] [--name <label>]`
 *
 * Creates the user if needed and a key for it, and prints the key once: only its hash is stored.
 * The key goes to stdout alone (scriptable: `KEY=$(npm run -s apikey:create -- ...)`); the
 * explanation goes to stderr.
 */
async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('apikey:create')
    .requiredOption('--user <name>', 'owner of the key (created when missing); shown as createdBy/updatedBy')
    .option('--permission <permission>', 'AUDIT (manage exports) or INGEST (send audit events); repeatable', (value: string, all: string[]) => [...all, value], [])
    .option('--name <label>', 'label to tell keys apart')
    .parse(argv);
  const options = program.opts<{ user: string; permission: string[]; name?: string }>();

  // Before createApp: the AWS SDK reads its warning switch when the first client is made.
  const nodeNote = nodeVersionNote();
  // Logs go to stderr: stdout carries the key and nothing else.
  const app = await createApp({ env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }, logDestination: pino.destination(2) });
  if (nodeNote) app.logger.warn(nodeNote);
  try {
    const created = await app.services.apiKeys.create({ userName: options.user, permissions: options.permission, name: options.name });
    process.stderr.write(
      `Created API key ${created.prefix}… for user "${created.userName}" with ${created.permissions.join(', ')}.\n` +
        'It is shown once and stored only as a hash. Send it as: Authorization: Bearer <key>\n',
    );
    process.stdout.write(`${created.key}\n`);
  } finally {
    await app.stop();
  }
}

main(process.argv).catch((error: unknown) => {
  const message = error instanceof DomainError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`apikey:create failed: ${message}\n`);
  process.exit(1);
});
