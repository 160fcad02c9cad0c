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
  /** Receives the line saying that a request is retried (shown on stderr, also without `--verbose`). */
  notice?: (line: string) => void;
  /** How long one attempt may take, answer included (`--timeout`); default {@link DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Per attempt (`--timeout`): a create tests the connection to the bucket, which may take a while. */
export const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Waits before the 2nd and 3rd attempt of a request sent with an Idempotency-Key: 3 tries in
 * all, enough to get past a dropped connection or a restarting service, short enough that a
 * person at the terminal is not left waiting.
 */
export const RETRY_DELAYS_MS: readonly number[] = [500, 2_000];

/** How a request is sent. */
export interface RequestOptions {
  /**
   * Sent as the `Idempotency-Key` header. With it, a timeout or a connection failure (no answer
   * at all) is retried with the same key, so the service can tell the retry from a new request
   * and answer with what the first attempt created. Without it nothing is retried: the first
   * attempt may have been carried out, and repeating it could do it twice.
   */
  idempotencyKey?: string;
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
   * a CliError whose message lists each error as `CODE: message` (redacted). An answer, even an
   * error, is never retried; see {@link RequestOptions.idempotencyKey} for what is.
   */
  async request<Data = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<GraphqlResponse<Data>> {
    const operation = /(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? 'anonymous';
    this.debug(`POST ${this.endpoint} (${operation})`);
    this.debug(`variables: ${JSON.stringify(variables)}`);
    if (options.idempotencyKey !== undefined) this.debug(`Idempotency-Key: ${options.idempotencyKey}`);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      authorization: `Bearer ${this.options.apiKey}`,
      ...(options.idempotencyKey !== undefined ? { 'idempotency-key': options.idempotencyKey } : {}),
    };
    const body = JSON.stringify({ query, variables });
    const delays = options.idempotencyKey !== undefined ? RETRY_DELAYS_MS : [];
    const started = Date.now();
    let answer: { response: Response; text: string };
    for (let attempt = 0; ; attempt++) {
      try {
        answer = await this.exchange(headers, body);
        break;
      } catch (error) {
        const reason = describeFetchError(error);
        const delay = delays[attempt];
        if (delay === undefined) {
          const tries = attempt > 0 ? ` (${attempt + 1} tries with the same Idempotency-Key)` : '';
          throw new CliError(this.redact(`Cannot reach ${this.endpoint}: ${reason}${tries}`));
        }
        this.notice(`${operation}: ${reason}; trying again in ${delay} ms with the same Idempotency-Key (try ${attempt + 2} of ${delays.length + 1})`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    const { response, text } = answer;
    this.debug(`HTTP ${response.status} in ${Date.now() - started} ms`);
    let parsed: GraphqlResponse<Data> | undefined;
    try {
      parsed = JSON.parse(text) as GraphqlResponse<Data>;
    } catch {
      parsed = undefined;
    }
    if (parsed?.errors?.length) {
      this.debug(`response: ${text}`);
      throw new CliError(this.redact(describeGraphqlErrors(parsed.errors)));
    }
    if (!response.ok || !parsed || typeof parsed !== 'object') {
      const detail = text.trim() ? `: ${text.trim().slice(0, 300)}` : '';
      throw new CliError(this.redact(`${this.endpoint} answered HTTP ${response.status} ${response.statusText}${detail}`));
    }
    return parsed;
  }

  /**
   * One attempt: the POST and reading its answer, under one timeout, so a connection that stalls
   * or breaks halfway through the answer counts as no answer (and a key'd request is retried).
   */
  private async exchange(headers: Record<string, string>, body: string): Promise<{ response: Response; text: string }> {
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
    return { response, text: await response.text() };
  }

  private notice(line: string): void {
    this.options.notice?.(this.redact(line));
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
