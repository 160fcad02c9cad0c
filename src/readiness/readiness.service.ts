/**
 * Readiness: whether this process can do its work now, dependency by dependency. GET /readyz
 * (and its old name /healthz) answers with it; GET /livez only says the process runs.
 */

/** Resolves when the dependency can be used now; rejects with an Error that says why not. */
export type ReadinessCheck = () => Promise<void>;

export interface ReadinessReport {
  /** Every check passed. */
  ready: boolean;
  /** Each check by name: `ok`, or `down: <why>` (one line, no URL, no secret). */
  checks: Record<string, string>;
}

/** Runs every check at once, each bounded by `timeoutMs`, so a hung dependency cannot hang the probe. */
export class ReadinessService {
  constructor(
    private readonly checks: Readonly<Record<string, ReadinessCheck>>,
    private readonly timeoutMs: number,
  ) {}

  async check(): Promise<ReadinessReport> {
    const results = await Promise.all(Object.entries(this.checks).map(async ([name, check]) => [name, await this.run(check)] as const));
    return { ready: results.every(([, result]) => result === 'ok'), checks: Object.fromEntries(results) };
  }

  private async run(check: ReadinessCheck): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        check(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      return 'ok';
    } catch (error) {
      return `down: ${describeFailure(error)}`;
    } finally {
      clearTimeout(timer);
    }
  }
}

const MAX_REASON_LENGTH = 200;

/**
 * A failure as one short line for an anonymous caller: Prisma's driver message rather than its
 * multi-line preamble, and anything shaped like a URL removed (a connection string carries the
 * password). Drivers name hosts and ports, never credentials; the URL rule is the second line of defence.
 */
export function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  // Prisma: "Invalid `prisma.$queryRaw()` invocation: ... Raw query failed. Code: `N/A`. Message: `Can't reach database server at ...`"
  const driverMessage = /Message: `(.*)`$/.exec(lines.at(-1) ?? '')?.[1];
  const line = (driverMessage ?? lines.at(-1) ?? 'unknown error').replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>');
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH - 1)}…` : line;
}
