import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseClusterNodes } from './redis-target';

/**
 * The one environment schema of the service, shared by the API (`src/`) and the workers
 * (`workers/`). It is parsed once at start-up; a bad value stops the process with a message that
 * names the variable. Variables listed in {@link SECRET_ENV_VARS} are never printed.
 */

const booleanString = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((value) => value === 'true' || value === '1' || value === 'yes');

const optionalUrl = z.url().optional();

const KEY_FORMAT = 'must be 32 random bytes, base64-encoded (generate one with: openssl rand -base64 32)';

/**
 * Decodes a 32-byte base64 (or base64url) key, or undefined when it is not one. Strict on the
 * alphabet because Buffer.from(..., 'base64') silently skips characters it does not know, so a
 * mangled key could otherwise decode to 32 other bytes.
 */
function decodeKey(value: string): Buffer | undefined {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) && !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const key = Buffer.from(text, 'base64');
  return key.length === 32 ? key : undefined;
}

/** One key; the issue names the variable (through its path) and never the value. */
const encryptionKey = z.string().transform((value, ctx) => {
  const key = decodeKey(value);
  if (key) return key;
  ctx.addIssue({ code: 'custom', message: KEY_FORMAT });
  return z.NEVER;
});

/** A comma-separated list of keys; a bad one is named by its position, never by its value. */
const encryptionKeyList = z.string().transform((value, ctx) => {
  const entries = value.split(',').map((entry) => entry.trim());
  const keys: Buffer[] = [];
  entries.forEach((entry, index) => {
    // Empty entries (a trailing comma, `a,,b`) are ignored rather than refused.
    if (entry === '') return;
    const key = decodeKey(entry);
    if (key) keys.push(key);
    else ctx.addIssue({ code: 'custom', message: `entry ${index + 1} of ${entries.length} (comma-separated) ${KEY_FORMAT}` });
  });
  return keys;
});

export const envSchema = z.object({
  /**
   * `production` unless set otherwise, on purpose: only an explicit `development` or `test` is
   * local development (see {@link isLocalDevelopment}), the one mode allowed to run without
   * SECRET_ENCRYPTION_KEY. A forgotten NODE_ENV on a server must fail closed, not generate a key
   * that dies with the container. `npm run start:local` sets `development` for a laptop.
   */
  NODE_ENV: z.enum(['development', 'test', 'production']).default('production'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),

  /** A local database by default; `npm run db:migrate` creates it when it is missing. */
  DATABASE_URL: z.url().default('postgresql://root@127.0.0.1:5432/audit_export'),
  REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
  /**
   * Redis Cluster (issue #11, docs/scale-out.md): its startup nodes as `host:port,host:port,...`.
   * When set, every Redis connection is a cluster client (credentials and TLS still from
   * REDIS_URL, whose host is then unused), and BULLMQ_PREFIX must hold a hash tag.
   */
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((text, context) => {
      if (text === undefined) return undefined;
      const nodes = parseClusterNodes(text);
      if (typeof nodes === 'string') {
        context.addIssue({ code: 'custom', message: nodes });
        return z.NEVER;
      }
      return nodes;
    }),
  /**
   * Namespaces every BullMQ key, so several deployments (or test runs) can share one Redis. On a
   * Redis Cluster it must contain a hash tag, e.g. `{audit-export}`: BullMQ's scripts touch several
   * keys of a queue at once, which a cluster allows only when they hash to one slot.
   */
  BULLMQ_PREFIX: z.string().min(1).default('audit-export'),

  /**
   * The current key of the keyring that encrypts stored AWS secrets (AES-256-GCM): 32 random
   * bytes, base64. It seals every new secret. Required outside local development; in local
   * development a key is generated once into DATA_DIR and reused (src/crypto/encryption-key.ts).
   */
  SECRET_ENCRYPTION_KEY: encryptionKey.optional(),
  /**
   * Older keys, comma-separated, that only decrypt: secrets sealed with them keep working after
   * a key change until `npm run rotate-secret-key` has re-encrypted them with the current key.
   */
  SECRET_ENCRYPTION_PREVIOUS_KEYS: encryptionKeyList.optional().transform((keys) => keys ?? []),
  DATA_DIR: z.string().min(1).default('.data'),

  /** Region for the service's own STS calls; each configuration names its bucket's region. */
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /**
   * The AWS SDK's standard endpoint overrides (e.g. the local sandbox). Passed to the SDK clients
   * explicitly (src/aws), so an app built from an env object behaves like one built from process.env.
   */
  AWS_ENDPOINT_URL: optionalUrl,
  AWS_ENDPOINT_URL_S3: optionalUrl,
  AWS_ENDPOINT_URL_STS: optionalUrl,
  /** Path-style S3 addressing (`endpoint/bucket/key`), needed by S3-compatible endpoints. */
  AWS_S3_FORCE_PATH_STYLE: booleanString.default(false),
  /**
   * The service's own AWS identity (it calls sts:AssumeRole with it). Optional: when unset, the
   * SDK's default credential chain (shared config, SSO, container or instance role) is used.
   */
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),

  /**
   * Upper bound of each dependency check of GET /readyz (PostgreSQL, migrations, Redis), in
   * milliseconds: a dependency that does not answer in time is reported down.
   */
  READINESS_CHECK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),

  /** Upper bound for one connection test (AssumeRole + PutObject), in milliseconds. */
  CONNECTION_TEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),

  /** Run the export worker inside the API process (the default); `workers/` scale it out. */
  RUN_WORKER_IN_PROCESS: booleanString.default(true),
  /** Largest number of events in one ExportJobTask, i.e. in one S3 object. */
  EXPORT_TASK_MAX_EVENTS: z.coerce.number().int().min(1).max(5_000_000).default(100_000),
  /**
   * Tasks (objects) one worker process uploads at the same time, of one job or of several (issue #11):
   * each holds two PostgreSQL connections and at most `queueSize + 1` part buffers while it runs,
   * so a worker's upload memory is bounded by this × (queueSize + 1) × part size. Default: the cores.
   */
  EXPORT_TASK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(availableParallelism()),
  /**
   * Chunks of gzip objects one worker process deflates at the same time, over all its tasks, in
   * libuv's thread pool (pigz's approach: src/delivery-format/parallel-gzip.ts). The bytes
   * delivered do not depend on it. Default: twice the cores.
   */
  EXPORT_COMPRESSION_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(256)
    .default(2 * availableParallelism()),
  /**
   * How often each worker rebuilds the job schedulers from PostgreSQL and queues the runs it owes
   * (due retries, interrupted jobs, lost run requests): the longest a Redis that was down, flushed
   * or replaced stays without a configuration's schedule.
   */
  SCHEDULE_RECONCILE_PERIOD_MS: z.coerce.number().int().min(100).default(60_000),
  /** A failed export job is tried again after this long, doubling per failure, capped at its interval. */
  EXPORT_RETRY_BASE_DELAY_MS: z.coerce.number().int().min(100).default(60_000),
  /**
   * A configuration whose every export run failed for this long is disabled automatically, with
   * a reason shown in the API (issue #12; docs/alerts.md). A warning goes out halfway there.
   */
  EXPORT_AUTO_DISABLE_AFTER_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(7 * 24 * 3_600_000),
  /**
   * Retention of audit events, in days (docs/event-store.md): a partition of events is dropped once
   * its newest event is older than this and every enabled configuration has exported it; a
   * disabled configuration does not hold it (the API reports what it missed). Unset: events are
   * kept for ever.
   */
  EVENT_RETENTION_DAYS: z.coerce.number().positive().optional(),
  /** Sequence values (events) per partition of the event store; partitions are the unit retention drops. */
  EVENT_PARTITION_SIZE: z.coerce.number().int().min(1).default(1_000_000),
  /** How often each worker makes partitions ahead of ingestion and applies retention. */
  EVENT_STORE_MAINTENANCE_PERIOD_MS: z.coerce.number().int().min(100).default(60_000),
  /** Upper bound for one alert request to a notification target (webhook or Slack). */
  NOTIFICATION_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** Tries of one alert before it is recorded FAILED for good. */
  NOTIFICATION_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  /** Wait after an alert's first failed try, doubling per try, capped at an hour. */
  NOTIFICATION_RETRY_BASE_DELAY_MS: z.coerce.number().int().min(100).default(10_000),
  /** How often the notification loop looks for alerts to send. */
  NOTIFICATION_POLL_PERIOD_MS: z.coerce.number().int().min(50).default(1_000),
  /** How often the background health check looks for failing configurations. */
  HEALTH_CHECK_PERIOD_MS: z.coerce.number().int().min(100).default(60_000),
  /** Longest wait between two re-tests of a failing configuration (exponential backoff cap). */
  HEALTH_CHECK_MAX_BACKOFF_MS: z.coerce.number().int().min(100).default(3_600_000),

  /** Largest accepted body of POST /api/audit/graphql (a GraphQL document and its variables). */
  GRAPHQL_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** Largest accepted body of POST /api/audit/events. */
  INGEST_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),

  /**
   * When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`; when unset it is open,
   * and must then only be reachable from a private network (docs/metrics.md).
   */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters (generate one with: openssl rand -hex 32)').optional(),
  /**
   * A separate worker process (workers/export.worker.ts) serves its own GET /metrics on this port
   * when set (on HOST); the API serves /metrics on PORT in any case.
   */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Longest a scrape waits for one scrape-time reading (delivery lag from PostgreSQL, queue depth from Redis). */
  METRICS_COLLECT_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2_000),
});

export type Env = z.infer<typeof envSchema>;

/**
 * Local development is an explicit NODE_ENV of `development` or `test`, and nothing else: an
 * unset NODE_ENV is production (the schema's default). Only local development may fall back to a
 * generated secret-encryption key.
 */
export function isLocalDevelopment(env: Pick<Env, 'NODE_ENV'>): boolean {
  return env.NODE_ENV === 'development' || env.NODE_ENV === 'test';
}

/** Variables whose values must never appear in output, logs or errors. */
export const SECRET_ENV_VARS = [
  'SECRET_ENCRYPTION_KEY',
  'SECRET_ENCRYPTION_PREVIOUS_KEYS',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'METRICS_TOKEN',
] as const;

/** Raised when the environment is invalid; the message names every bad variable, never a value. */
export class EnvError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid environment:\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
    this.name = 'EnvError';
  }
}

/** Parses an environment (process.env by default) into a typed, frozen configuration. */
export function parseEnv(source: NodeJS.ProcessEnv = process.env): Readonly<Env> {
  // Empty strings are treated as unset, as in a copied .env.example with blank lines.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    throw new EnvError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  if (result.data.REDIS_CLUSTER_NODES && !/\{[^{}]+\}/.test(result.data.BULLMQ_PREFIX)) {
    throw new EnvError([
      `BULLMQ_PREFIX: must contain a Redis Cluster hash tag such as {audit-export} when REDIS_CLUSTER_NODES is set (every key of a queue must hash to one slot)`,
    ]);
  }
  return Object.freeze(result.data);
}

let cached: Readonly<Env> | undefined;

/**
 * The process's configuration, parsed on first use. `.env` in the working directory is loaded
 * first when present (without overriding variables already set).
 */
export function loadEnv(): Readonly<Env> {
  if (!cached) {
    try {
      process.loadEnvFile();
    } catch {
      // No .env file: the environment alone configures the service.
    }
    cached = parseEnv(process.env);
  }
  return cached;
}
