import { CliError } from './cli.errors';

/** One GraphQL error as the service sends it (see src/graphql/format-error.ts). */
export interface GraphqlError {
  message: string;
  path?: Array<string | number>;
  extensions?: { code?: string; [key: string]: unknown };
}

export interface GraphqlResponse<Data = Record<string, unknown>> {
  data?: Data | null;
  errors?: GraphqlError[];
}

export interface GraphqlClientOptions {
  /** Base URL of the service, e.g. `https://audit.example.com`; the GraphQL path is appended. */
  host: string;
  apiKey: string;
  /** Values that must never reach stdout/stderr (the secret access key being sent, the API key). */
  secrets?: string[];
  /** Receives diagnostic lines for `--verbose`; they are redacted like everything else. */
  debug?: (line: string) => void;
  timeoutMs?: number;
}

/** The path of the service's GraphQL endpoint, as in Immuta (seed: `/api/audit/graphql`). */
export const GRAPHQL_PATH = '/api/audit/graphql';

/** `https://host[/prefix]` → `https://host[/prefix]/api/audit/graphql` (an endpoint URL is kept as is). */
export function graphqlEndpoint(host: string): string {
  const base = host.replace(/\/+$/, '');
  return base.endsWith(GRAPHQL_PATH) ? base : base + GRAPHQL_PATH;
}

/**
 * Replaces every occurrence of each secret by `[REDACTED]`. The server never echoes secrets, but
 * the CLI does not rely on that: whatever it prints passes through here.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  // Longest first, so a secret containing another is removed whole.
  for (const secret of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) {
    result = result.split(secret).join('[REDACTED]');
    // JSON output escapes '/' nowhere but does escape '"' and '\\'; cover the escaped form too.
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret) result = result.split(escaped).join('[REDACTED]');
  }
  return result;
}

/** A minimal GraphQL-over-HTTP client on Node's fetch: one POST per request, JSON in and out. */
export class GraphqlClient {
  readonly endpoint: string;
  private readonly secrets: string[];

  constructor(private readonly options: GraphqlClientOptions) {
    this.endpoint = graphqlEndpoint(options.host);
    this.secrets = [...(options.secrets ?? []), options.apiKey];
  }

  /** Redacts the client's secrets from text about to be printed. */
  redact(text: string): string {
    return redact(text, this.secrets);
  }

  /**
   * Sends one operation. Resolves with the whole response when it has no errors; otherwise throws
   * a CliError whose message lists each error as `CODE: message` (redacted).
   */
  async request<Data = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}): Promise<GraphqlResponse<Data>> {
    const operation = /(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? 'anonymous';
    this.debug(`POST ${this.endpoint} (${operation})`);
    this.debug(`variables: ${JSON.stringify(variables)}`);
    const started = Date.now();
    let response: Response;
    try {
      response = await fetch(this.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${this.options.apiKey}`,
        },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 120_000),
      });
    } catch (error) {
      throw new CliError(this.redact(`Cannot reach ${this.endpoint}: ${describeFetchError(error)}`));
    }
    const text = await response.text();
    this.debug(`HTTP ${response.status} in ${Date.now() - started} ms`);
    let body: GraphqlResponse<Data> | undefined;
    try {
      body = JSON.parse(text) as GraphqlResponse<Data>;
    } catch {
      body = undefined;
    }
    if (body?.errors?.length) {
      this.debug(`response: ${text}`);
      throw new CliError(this.redact(describeGraphqlErrors(body.errors)));
    }
    if (!response.ok || !body || typeof body !== 'object') {
      const detail = text.trim() ? `: ${text.trim().slice(0, 300)}` : '';
      throw new CliError(this.redact(`${this.endpoint} answered HTTP ${response.status} ${response.statusText}${detail}`));
    }
    return body;
  }

  private debug(line: string): void {
    this.options.debug?.(this.redact(line));
  }
}

function describeGraphqlErrors(errors: GraphqlError[]): string {
  return errors
    .map((error) => {
      const code = error.extensions?.code;
      return code ? `${code}: ${error.message}` : error.message;
    })
    .join('\n');
}

/** fetch() rejects with "fetch failed"; the useful part (ECONNREFUSED, ENOTFOUND, ...) is in `cause`. */
function describeFetchError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'the request timed out';
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as NodeJS.ErrnoException).code;
      return code && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message;
    }
    return error.message;
  }
  return String(error);
}
