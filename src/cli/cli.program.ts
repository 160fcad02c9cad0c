import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, CliExit } from './cli.errors';
import { configFilePath, DEFAULT_PROFILE, resolveProfile } from './cli-config.store';
import { DEFAULT_TIMEOUT_MS, GraphqlClient } from './graphql.client';
import { addExportConfigCommands } from './export-config.commands';
import { addApiKeyCommands } from './api-key.commands';
import { addConfigureCommand } from './configure.command';
import { addDigestCommands } from './digest.commands';

/** Where the CLI reads and writes; the process's streams in production, buffers in tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Whether prompts are possible (stdin is a terminal). */
  interactive: boolean;
  /** Whether stderr is a terminal: progress is then a bar redrawn in place, otherwise plain lines. */
  stderrIsTTY?: boolean;
  /** Asks one question; `hidden` does not echo the answer (API keys). */
  prompt: (question: string, hidden: boolean) => Promise<string>;
}

/** Options every command accepts (commander recognises program options after the subcommand too). */
export interface GlobalOptions {
  profile: string;
  host?: string;
  apiKey?: string;
  verbose?: boolean;
  /** Milliseconds one request attempt may take. */
  timeout?: number;
}

/** What a command needs to talk to the service. */
export interface CommandContext {
  io: CliIo;
  /** A client for the selected profile; `secrets` are values the command sends that must never be printed. */
  client(command: Command, secrets?: string[]): GraphqlClient;
  /** Prints a GraphQL response (pretty JSON) on stdout, redacted by `client`. */
  print(client: GraphqlClient, value: unknown): void;
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('audit-export')
    .description('Command line client of the audit export service (mirrors `immuta audit exportConfig`)')
    .addOption(new Option('--profile <name>', 'profile to use (see `configure`)').env('AUDIT_EXPORT_PROFILE').default(DEFAULT_PROFILE))
    .addOption(new Option('--host <url>', 'service URL, overriding the profile').env('AUDIT_EXPORT_HOST'))
    .addOption(new Option('--api-key <key>', 'API key, overriding the profile').env('AUDIT_EXPORT_API_KEY'))
    .addOption(
      new Option(
        '--timeout <ms>',
        `milliseconds one request may take before it is given up (creates are then retried with the same Idempotency-Key); default ${DEFAULT_TIMEOUT_MS}`,
      )
        .env('AUDIT_EXPORT_TIMEOUT_MS')
        .argParser(parseTimeout),
    )
    .option('-v, --verbose', 'print request diagnostics on stderr (secrets redacted)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  const context: CommandContext = {
    io,
    client(command, secrets = []) {
      const options = command.optsWithGlobals<GlobalOptions>();
      const profile = resolveProfile(configFilePath(io.env), options.profile, { host: options.host, apiKey: options.apiKey });
      return new GraphqlClient({
        host: profile.host,
        apiKey: profile.apiKey,
        secrets,
        debug: options.verbose ? (line) => io.stderr(`[verbose] ${line}\n`) : undefined,
        notice: (line) => io.stderr(`${line}\n`),
        timeoutMs: options.timeout,
      });
    },
    print(client, value) {
      io.stdout(client.redact(JSON.stringify(value, null, 2)) + '\n');
    },
  };

  addConfigureCommand(program, context);
  // Immuta's spelling is `immuta audit exportConfig ...`; `audit-export exportConfig ...` works too.
  const audit = program.command('audit').description('audit export commands (as in `immuta audit`)');
  addExportConfigCommands(audit, context);
  addExportConfigCommands(program, context);
  addApiKeyCommands(program, context);
  addDigestCommands(program, context);
  return program;
}

function parseTimeout(value: string): number {
  const ms = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(ms) || ms < 1) throw new InvalidArgumentError('must be a whole number of milliseconds, at least 1');
  return ms;
}

/** Runs the CLI; resolves with the exit code instead of exiting, so tests can call it in-process. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (and help); help and --version exit 0.
      return error.exitCode;
    }
    if (error instanceof CliExit) return error.exitCode;
    if (error instanceof CliError) {
      io.stderr(`Error: ${error.message}\n`);
      return error.exitCode;
    }
    // Not expected: say so, without a stack trace full of internals.
    io.stderr(`Error: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}
