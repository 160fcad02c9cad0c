import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CliError } from './cli.errors';
import type { CommandContext } from './cli.program';
import * as documents from './documents';
import { readInputFile, type InputFileKind } from './input-file';
import { configurationsAsTable, policiesAsObjects, policiesAsText, type ListedConfiguration, type Policies } from './output';
import { failureLines, runAndWait } from './run-wait';

/** Which mutation each file command sends. */
const FILE_COMMANDS: Record<InputFileKind, { document: string; description: string }> = {
  'create:s3:accessKey': { document: documents.CREATE_S3_ACCESS_KEY, description: 'create an S3 export authenticated with an access key' },
  'create:s3:assumedRole': { document: documents.CREATE_S3_ASSUMED_ROLE, description: 'create an S3 export authenticated by assuming an IAM role' },
  'update:s3:accessKey': { document: documents.UPDATE_S3_ACCESS_KEY, description: 'update an access-key S3 export (file: id plus the fields to change)' },
  'update:s3:assumedRole': { document: documents.UPDATE_S3_ASSUMED_ROLE, description: 'update an assumed-role S3 export (file: id plus the fields to change)' },
};

// `run` has a command of its own below (its --wait).
const ID_COMMANDS: Record<Exclude<keyof typeof documents.ID_MUTATIONS, 'run'>, string> = {
  enable: 'enable an export configuration (scheduler back, connection re-tested)',
  disable: 'disable an export configuration (scheduler removed, history kept)',
  delete: 'delete an export configuration and its stored secret (delivered files stay)',
  test: 'test the connection to the bucket again (writes .immuta.export.log)',
};

/** `run --wait`: how often the run's state is asked for, and how long by default. */
const WAIT_POLL_MS = 500;
const DEFAULT_WAIT_TIMEOUT_S = 600;

/** `exportConfig <subcommand>` under `parent` (the program itself, or `audit`). */
export function addExportConfigCommands(parent: Command, context: CommandContext): void {
  const exportConfig = parent.command('exportConfig').description('manage audit export configurations');

  for (const [kind, { document, description }] of Object.entries(FILE_COMMANDS) as Array<[InputFileKind, (typeof FILE_COMMANDS)[InputFileKind]]>) {
    exportConfig
      .command(`${kind} <file>`)
      .description(`${description}; <file> is a JSON file like the guide's exportConfig.json`)
      .action(async (file: string, _options: unknown, command: Command) => {
        const data = readInputFile(kind, file);
        const secret = 'secretAccessKey' in data ? data.secretAccessKey : undefined;
        // The secret is sent, and from here on it is also a string every output is scrubbed of.
        const client = context.client(command, secret ? [secret] : []);
        // A fresh key per create: if the answer is lost (timeout, dropped connection), the client
        // retries with it and the service answers with what the first try created, instead of
        // creating a second configuration that would receive every event again.
        const idempotencyKey = kind.startsWith('create:') ? randomUUID() : undefined;
        context.print(client, await client.request(document, { data }, { idempotencyKey }));
      });
  }

  exportConfig
    .command('list')
    .description('list every export configuration with its connection status')
    .addOption(new Option('--output <format>', 'json (the GraphQL response), or table: one aligned row per configuration').choices(['json', 'table']).default('json'))
    .action(async (options: { output: 'json' | 'table' }, command: Command) => {
      const client = context.client(command);
      const response = await client.request<{ getAllExportConfigurations: ListedConfiguration[] }>(documents.LIST);
      if (options.output === 'table') {
        context.io.stdout(client.redact(configurationsAsTable(response.data?.getAllExportConfigurations ?? [])));
        return;
      }
      context.print(client, response);
    });

  exportConfig
    .command('get <id>')
    .description('show one export configuration')
    .action(async (id: string, _options: unknown, command: Command) => {
      const client = context.client(command);
      const response = await client.request<{ getExportConfiguration: unknown }>(documents.GET, { id });
      if (response.data?.getExportConfiguration === null) {
        throw new CliError(`NOT_FOUND: Export configuration ${id} was not found`);
      }
      context.print(client, response);
    });

  for (const [name, description] of Object.entries(ID_COMMANDS) as Array<[keyof typeof ID_COMMANDS, string]>) {
    exportConfig
      .command(`${name} <id>`)
      .description(description)
      .action(async (id: string, _options: unknown, command: Command) => {
        const client = context.client(command);
        context.print(client, await client.request(documents.idMutation(documents.ID_MUTATIONS[name]), { id }));
      });
  }

  exportConfig
    .command('run <id>')
    .description('start an export now, outside the schedule; --wait follows it to the end')
    .option('--wait', 'wait until the run has finished (progress on stderr), print the jobs it produced, exit 1 if one FAILED')
    .addOption(
      // Not --timeout: that is the program's own option (one request's time), which commander reads after the subcommand too.
      new Option('--wait-timeout <seconds>', `with --wait: stop waiting after this many seconds (exit 3; the run goes on); default ${DEFAULT_WAIT_TIMEOUT_S}`).argParser(
        parseSeconds,
      ),
    )
    .action(async (id: string, options: { wait?: boolean; waitTimeout?: number }, command: Command) => {
      const client = context.client(command);
      if (!options.wait) {
        context.print(client, await client.request(documents.idMutation(documents.ID_MUTATIONS.run), { id }));
        return;
      }
      const { run, jobs } = await runAndWait(client, id, {
        timeoutMs: (options.waitTimeout ?? DEFAULT_WAIT_TIMEOUT_S) * 1000,
        pollMs: WAIT_POLL_MS,
        // A bar redrawn in place only where someone watches a terminal; logs get a line per change.
        progress: context.io.stderrIsTTY ? 'bar' : 'lines',
        stderr: (text) => context.io.stderr(client.redact(text)),
      });
      context.print(client, { data: { runExportConfiguration: run, exportJobs: jobs } });
      const failures = failureLines(jobs);
      if (failures.length > 0) throw new CliError(failures.join('\n'));
    });

  exportConfig
    .command('policy <id>')
    .description('print the IAM trust and permissions policies to paste into AWS')
    .addOption(new Option('--raw <which>', 'print only one policy document, as plain JSON ready to paste').choices(['trust', 'permissions']))
    .addOption(new Option('--output <format>', 'json (policies as JSON objects), or text: each policy as a headed, pasteable block').choices(['json', 'text']).default('json'))
    .action(async (id: string, options: { raw?: 'trust' | 'permissions'; output: 'json' | 'text' }, command: Command) => {
      const client = context.client(command);
      const response = await client.request<{ getExportConfigurationPolicies: Policies | null }>(documents.POLICIES, { id });
      const policies = response.data?.getExportConfigurationPolicies;
      if (!policies) {
        context.print(client, response);
        return;
      }
      if (!options.raw) {
        if (options.output === 'text') context.io.stdout(client.redact(policiesAsText(policies)));
        // The documents as objects, not JSON strings inside JSON: `jq .data...trustPolicy` pastes as it is.
        else context.print(client, { ...response, data: { getExportConfigurationPolicies: policiesAsObjects(policies) } });
        return;
      }
      const document = options.raw === 'trust' ? policies.trustPolicy : policies.permissionsPolicy;
      if (!document) throw new CliError(`Export configuration ${id} authenticates with an access key: it has no trust policy`);
      context.io.stdout(client.redact(document) + '\n');
    });

  exportConfig
    .command('jobs <configId>')
    .description('list the export jobs of a configuration')
    .action(async (configId: string, _options: unknown, command: Command) => {
      const client = context.client(command);
      context.print(client, await client.request(documents.JOBS, { exportConfigurationId: configId }));
    });

  exportConfig
    .command('tasks <jobId>')
    .description('list the tasks (one S3 object each) of an export job')
    .action(async (jobId: string, _options: unknown, command: Command) => {
      const client = context.client(command);
      context.print(client, await client.request(documents.TASKS, { exportJobId: jobId }));
    });
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(seconds) || seconds < 1) throw new InvalidArgumentError('must be a whole number of seconds, at least 1');
  return seconds;
}
