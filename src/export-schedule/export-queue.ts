import { Queue, type ConnectionOptions, type QueueOptions } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { endRedisClient, reconnectDelayMs, type RedisReconnection } from '../config/redis-reconnection';
import { createRedisClient, type RedisTarget } from '../config/redis-target';
import type { Logger } from '../common/logger';
import type { ExportInterval } from '../generated/prisma/enums';

/**
 * The one BullMQ queue of export runs, shared by the API (which schedules and enqueues) and the
 * workers (which run). Job data carries ids only: BullMQ keeps it in clear text in Redis.
 */

export const EXPORT_QUEUE_NAME = 'export-runs';

/** Job name → payload. The trigger of a run (SCHEDULED or MANUAL) is told by the job name. */
export interface ExportJobPayloads {
  /** Created by a configuration's job scheduler, every `interval`. */
  'scheduled-export': { configurationId: string };
  /** Created by `runExportConfiguration` (the request itself is kept in PostgreSQL). */
  'manual-export': { configurationId: string };
  /** The next try of a failed job (backoff), or at once when a connection re-test succeeds. */
  'retry-export': { configurationId: string };
  /** Queued by a worker at start-up, and by the reconcile loop, for runs that were interrupted or asked for and not yet started. */
  'resume-export': { configurationId: string };
  /**
   * Asks any worker to take tasks of an export job in progress (issue #11, docs/delivery-guarantees.md
   * "Parallel tasks"): queued by the run that planned or resumed the job, one per helper wanted.
   */
  'export-tasks': { configurationId: string; exportJobId: string };
}

export type ExportJobName = keyof ExportJobPayloads;
export type ExportJobPayload = ExportJobPayloads[ExportJobName];

/** Milliseconds between two scheduled runs of a configuration. */
export const INTERVAL_MS: Record<ExportInterval, number> = {
  EVERY_15_MINUTES: 15 * 60_000,
  EVERY_HOUR: 3_600_000,
  EVERY_2_HOURS: 2 * 3_600_000,
  EVERY_4_HOURS: 4 * 3_600_000,
  EVERY_6_HOURS: 6 * 3_600_000,
  EVERY_12_HOURS: 12 * 3_600_000,
  EVERY_24_HOURS: 24 * 3_600_000,
};

const SCHEDULER_ID_PREFIX = 'export-configuration-';

/** The job scheduler id of a configuration: derived from its id, so it can always be found again. */
export function schedulerIdFor(configurationId: string): string {
  return `${SCHEDULER_ID_PREFIX}${configurationId}`;
}

/** The configuration id a scheduler id was derived from, or undefined for someone else's scheduler. */
export function configurationIdOfScheduler(schedulerId: string): string | undefined {
  return schedulerId.startsWith(SCHEDULER_ID_PREFIX) ? schedulerId.slice(SCHEDULER_ID_PREFIX.length) : undefined;
}

export interface ExportQueueOptions extends RedisTarget {
  /** BULLMQ_PREFIX: namespaces every key of the queue. */
  prefix: string;
  /** Tests use a unique name per test; the service uses {@link EXPORT_QUEUE_NAME}. */
  queueName?: string;
  /**
   * Where the queue's Redis errors go (a lost or refused connection; BullMQ reconnects by itself).
   * The service always passes one; without it BullMQ writes them to the console.
   */
  logger?: Pick<Logger, 'warn'>;
}

/**
 * Longest wait for one command of a queue (not a worker): Redis is a cache of PostgreSQL here, so
 * a mutation or a reconcile pass must not wait on it longer than this.
 */
export const QUEUE_COMMAND_TIMEOUT_MS = 3_000;

/**
 * BullMQ's connection for a Worker: its blocking connection needs `maxRetriesPerRequest: null`.
 * BullMQ makes the worker's connections from these options (or duplicates the cluster client), so
 * they reconnect with `reconnection`'s strategy: stop it before closing the worker, or a connection
 * that is reconnecting keeps the close from ending (src/config/redis-reconnection.ts). On a Redis
 * Cluster, a cluster client the caller owns: BullMQ never ends a client it was given (it ends the
 * duplicates it makes), so end it after the worker (`endOwnedConnection`).
 */
export function redisConnection(target: string | RedisTarget, reconnection: RedisReconnection): ConnectionOptions {
  const { redisUrl, redisClusterNodes } = typeof target === 'string' ? { redisUrl: target, redisClusterNodes: undefined } : target;
  const options = { maxRetriesPerRequest: null, retryStrategy: reconnection.retryStrategy };
  if (redisClusterNodes) return createRedisClient({ redisUrl, redisClusterNodes }, options);
  return { url: redisUrl, ...options };
}

/** Ends the client {@link redisConnection} made, when it made one (a cluster's), in whatever state it is. */
export async function endOwnedConnection(connection: ConnectionOptions): Promise<void> {
  if (connection instanceof Cluster || connection instanceof Redis) await endRedisClient(connection);
}

/**
 * The export queue, on a Redis client of its own that it ends when it closes, in whatever state
 * the client is. BullMQ leaves a client it is given open (it ends only the connections it makes),
 * and cannot end one of those while it is reconnecting (src/config/redis-reconnection.ts).
 */
class ExportQueue extends Queue<ExportJobPayload, void, ExportJobName> {
  constructor(
    name: string,
    options: Omit<QueueOptions, 'connection'>,
    private readonly ownRedis: Redis | Cluster,
  ) {
    super(name, { ...options, connection: ownRedis });
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await endRedisClient(this.ownRedis);
    }
  }
}

export function createExportQueue(options: ExportQueueOptions): Queue<ExportJobPayload, void, ExportJobName> {
  // Fails fast while Redis is unreachable (BullMQ's "failing fast when Redis is down" pattern): no
  // offline queue, and a bound on every command. ioredis still reconnects by itself; callers treat
  // a failure as "Redis will be repaired from PostgreSQL by the reconcile loop".
  const client = createRedisClient(
    { redisUrl: options.redisUrl, redisClusterNodes: options.redisClusterNodes },
    { maxRetriesPerRequest: null, enableOfflineQueue: false, commandTimeout: QUEUE_COMMAND_TIMEOUT_MS, retryStrategy: reconnectDelayMs },
  );
  const queue = new ExportQueue(
    options.queueName ?? EXPORT_QUEUE_NAME,
    {
      prefix: options.prefix,
      defaultJobOptions: {
        // Runs are idempotent and resumable; the export_jobs table is the history, so Redis keeps
        // only a little of it. BullMQ's own retries are not used: the next run resumes instead.
        removeOnComplete: 100,
        removeOnFail: 500,
      },
    },
    client,
  );
  const { logger } = options;
  // A Redis outage fails the calls that need Redis (a schedule change, a manual run), not the process.
  if (logger) queue.on('error', (error) => logger.warn({ err: error }, 'export queue: Redis error'));
  return queue;
}
