import { Queue, type ConnectionOptions, type QueueOptions } from 'bullmq';
import { Cluster } from 'ioredis';
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
 * On a Redis Cluster, a cluster client the caller owns: BullMQ never closes a client it was
 * given (it closes the blocking duplicate it makes), so close it after the worker (`closeOwnedConnection`).
 */
export function redisConnection(target: string | RedisTarget): ConnectionOptions {
  const { redisUrl, redisClusterNodes } = typeof target === 'string' ? { redisUrl: target, redisClusterNodes: undefined } : target;
  if (redisClusterNodes) return createRedisClient({ redisUrl, redisClusterNodes }, { maxRetriesPerRequest: null });
  return { url: redisUrl, maxRetriesPerRequest: null };
}

/**
 * A queue's connection fails fast while Redis is unreachable (BullMQ's "failing fast when Redis is
 * down" pattern): no offline queue, and a bound on every command. ioredis still reconnects by
 * itself; callers treat a failure as "Redis will be repaired from PostgreSQL by the reconcile loop".
 */
export function queueConnection(target: string | RedisTarget): ConnectionOptions {
  const { redisUrl, redisClusterNodes } = typeof target === 'string' ? { redisUrl: target, redisClusterNodes: undefined } : target;
  const options = { maxRetriesPerRequest: null, enableOfflineQueue: false, commandTimeout: QUEUE_COMMAND_TIMEOUT_MS };
  if (redisClusterNodes) return createRedisClient({ redisUrl, redisClusterNodes }, options);
  return { url: redisUrl, ...options };
}

/** Closes a connection made by {@link redisConnection} or {@link queueConnection} when it is a client of ours (a cluster's). */
export async function closeOwnedConnection(connection: ConnectionOptions): Promise<void> {
  if (!(connection instanceof Cluster)) return;
  await connection.quit().catch(() => connection.disconnect());
}

/**
 * The export queue; closing it also closes the cluster client it was given, if any, so callers
 * close a queue the same way whatever Redis is behind it.
 */
class ExportQueue extends Queue<ExportJobPayload, void, ExportJobName> {
  constructor(
    name: string,
    options: QueueOptions,
    private readonly ownedConnection: ConnectionOptions,
  ) {
    super(name, options);
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await closeOwnedConnection(this.ownedConnection);
    }
  }
}

export function createExportQueue(options: ExportQueueOptions): Queue<ExportJobPayload, void, ExportJobName> {
  const connection = queueConnection(options);
  const queue = new ExportQueue(
    options.queueName ?? EXPORT_QUEUE_NAME,
    {
      connection,
      prefix: options.prefix,
      defaultJobOptions: {
        // Runs are idempotent and resumable; the export_jobs table is the history, so Redis keeps
        // only a little of it. BullMQ's own retries are not used: the next run resumes instead.
        removeOnComplete: 100,
        removeOnFail: 500,
      },
    },
    connection,
  );
  const { logger } = options;
  // A Redis outage fails the calls that need Redis (a schedule change, a manual run), not the process.
  if (logger) queue.on('error', (error) => logger.warn({ err: error }, 'export queue: Redis error'));
  return queue;
}
