/**
 * A failure the CLI reports as one readable line on stderr and a non-zero exit code. Messages
 * are built by the CLI itself and never include secrets (see redact() in graphql.client.ts for
 * server-provided text).
 */
export class CliError extends Error {
  constructor(
    message: string,
    /** Process exit code: 1 for a failed request, 2 for bad usage or input. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * Ends the CLI with `exitCode` and no further message: the command has already said everything on
 * stdout (`validate` finding an invalid object exits 1 after printing its report).
 */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'CliExit';
  }
}
