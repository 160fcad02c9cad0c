import { Worker } from 'bullmq';
import { Pool } from 'pg';
import type { Logger } from '../src/common/logger';
import type { Env } from '../src/config/env';
import { connectionErrorFields } from '../src/database/connection-error';
import type { PrismaClient } from '../src/database/prisma';
import { ExportJobRepository } from '../src/export-job/export-job.repository';
import type { ExportRunMetrics } from '../src/export-job/export-run.metrics';
import { DEFAULT_RUN_OPTIONS, ExportRunService, type ExportAwsClients, type ExportRunOptions } from '../src/export-job/export-run.service';
import { DEFAULT_UPLOADER_OPTIONS, ExportTaskUploader, type UploaderOptions } from '../src/export-job/export-task.uploader';
import { ExportDigestChainRepository } from '../src/export-job/export-digest-chain.repository';
import { ExportDigestWriter } from '../src/export-job/export-digest.writer';
import type { DigestSigningKeyService } from '../src/digest-signing-key/digest-signing-key.service';
import { redisTargetFromEnv } from '../src/config/redis-target';
import { REDIS_RECONNECT_MAX_DELAY_MS, RedisReconnection, untilNoneReconnecting } from '../src/config/redis-reconnection';
import { createExportQueue, endOwnedConnection, EXPORT_QUEUE_NAME, redisConnection, type ExportJobName, type ExportJobPayload } from '../src/export-schedule/export-queue';
import { ExportScheduleRepository } from '../src/export-schedule/export-schedule.repository';
import { BullmqExportSchedule } from '../src/export-schedule/export-schedule.service';
import { ExportScheduleReconcileLoop } from '../src/export-schedule/export-schedule.loop';
import { AuditEventPartitionRepository } from '../src/audit-event/audit-event-partition.repository';
import { EventRetentionRepository } from '../src/event-retention/event-retention.repository';
import { EventStoreMaintenanceService } from '../src/event-retention/event-store-maintenance.service';
import { EventStoreMaintenanceLoop } from '../src/event-retention/event-store-maintenance.loop';
import { createJobHandlers, dispatchJob } from './job-handlers';

/** How long start-up waits for the worker's Redis connection before it goes on without it. */
const WORKER_READY_TIMEOUT_MS = 5_000;

export interface ExportWorkerDependencies {
  env: Pick<Readonly<Env>, 'DATABASE_URL' | 'REDIS_URL' | 'BULLMQ_PREFIX' | 'EXPORT_TASK_MAX_EVENTS' | 'SCHEDULE_RECONCILE_PERIOD_MS' | 'EXPORT_RETRY_BASE_DELAY_MS'> &
    Partial<
      Pick<
        Readonly<Env>,
        | 'EXPORT_AUTO_DISABLE_AFTER_MS'
        | 'EVENT_RETENTION_DAYS'
        | 'EVENT_PARTITION_SIZE'
        | 'EVENT_STORE_MAINTENANCE_PERIOD_MS'
        | 'EXPORT_TASK_CONCURRENCY'
        | 'EXPORT_COMPRESSION_CONCURRENCY'
        | 'REDIS_CLUSTER_NODES'
      >
    >;
  logger: Logger;
  prisma: PrismaClient;
  /** src/aws's AwsClientFactory. */
  awsClients: ExportAwsClients;
  /** The keys digests are signed with (the API's own instance when the worker runs in its process). */
  digestSigningKeys: Pick<DigestSigningKeyService, 'currentKeyId' | 'signer'>;
  /** Tests use a queue of their own; the service uses EXPORT_QUEUE_NAME. */
  queueName?: string;
  /** Runs of different configurations processed at the same time by this process. */
  concurrency?: number;
  runOptions?: Partial<Omit<ExportRunOptions, 'maxEventsPerTask' | 'jobRetryBaseDelayMs'>>;
  uploaderOptions?: Partial<UploaderOptions>;
  /**
   * Where runs report their counters: the API's `app.metrics.exportRuns` for the in-process
   * worker, the worker process's own registry with METRICS_PORT; none otherwise.
   */
  metrics?: ExportRunMetrics;
}

export interface ExportWorker {
  runs: ExportRunService;
  worker: Worker<ExportJobPayload, void, ExportJobName>;
  /** Retries, manual runs and the reconcile passes go through it (tests read it back). */
  schedule: BullmqExportSchedule;
  /** Lets running exports finish (BullMQ waits for active jobs), then closes connections. */
  close(): Promise<void>;
}

/**
 * Starts the export worker: the same code whether it runs inside the API process
 * (RUN_WORKER_IN_PROCESS) or alone (workers/export.worker.ts). Before taking jobs it rebuilds the
 * job schedulers from PostgreSQL, because Redis may have lost them, and keeps doing so every
 * SCHEDULE_RECONCILE_PERIOD_MS.
 */
export async function startExportWorker(deps: ExportWorkerDependencies): Promise<ExportWorker> {
  const { env, logger } = deps;
  const queueName = deps.queueName ?? EXPORT_QUEUE_NAME;
  // A pool of its own: a run holds one connection for its lock, and each running task one for its
  // claim and one to stream events (issue #11: up to EXPORT_TASK_CONCURRENCY tasks in this process).
  const taskConcurrency = env.EXPORT_TASK_CONCURRENCY ?? 1;
  const pool = new Pool({ connectionString: env.DATABASE_URL, max: (deps.concurrency ?? 2) + 2 * taskConcurrency + 2 });
  // An idle client whose session ends (a restart, a failover) is dropped by the pool, which then
  // emits 'error': unheard, that would end the process. The next checkout connects afresh.
  pool.on('error', (error) => logger.warn({ err: connectionErrorFields(error) }, 'an idle export database connection failed; the pool dropped it'));
  const repository = new ExportJobRepository(deps.prisma, pool, logger.child({ component: 'export-worker' }));
  const uploader = new ExportTaskUploader(repository, {
    ...DEFAULT_UPLOADER_OPTIONS,
    ...deps.uploaderOptions,
    concurrentTasks: taskConcurrency,
    compressionConcurrency: env.EXPORT_COMPRESSION_CONCURRENCY,
  });
  // The queue this worker adds to (retries, resumed runs) and reconciles; kept open while it runs.
  const queue = createExportQueue({ ...redisTargetFromEnv(env), prefix: env.BULLMQ_PREFIX, queueName, logger });
  const schedule = new BullmqExportSchedule(queue, new ExportScheduleRepository(deps.prisma), logger);
  const digests = new ExportDigestWriter(repository, new ExportDigestChainRepository(deps.prisma), deps.digestSigningKeys, logger.child({ component: 'export-digest' }));
  const runs = new ExportRunService(
    repository,
    uploader,
    digests,
    deps.awsClients,
    {
      ...DEFAULT_RUN_OPTIONS,
      ...deps.runOptions,
      maxEventsPerTask: env.EXPORT_TASK_MAX_EVENTS,
      jobRetryBaseDelayMs: env.EXPORT_RETRY_BASE_DELAY_MS,
      autoDisableAfterMs: env.EXPORT_AUTO_DISABLE_AFTER_MS,
      taskConcurrency,
    },
    logger.child({ component: 'export-worker' }),
    schedule,
    undefined,
    deps.metrics,
  );

  // Before taking jobs: schedulers rebuilt from PostgreSQL, and a run queued for every job a dead
  // worker left unfinished, so it resumes now rather than when BullMQ's stalled-job check fires.
  // Then the same pass every period, for as long as the worker runs.
  const reconcileLoop = new ExportScheduleReconcileLoop(schedule, env.SCHEDULE_RECONCILE_PERIOD_MS, logger.child({ component: 'export-schedule' }));
  await reconcileLoop.start();

  // The event store's partitions made ahead of ingestion, and retention (docs/event-store.md). Every
  // worker runs it; an advisory lock makes concurrent passes take turns.
  const maintenanceLogger = logger.child({ component: 'event-store' });
  const maintenance = new EventStoreMaintenanceService(
    deps.prisma,
    new AuditEventPartitionRepository(deps.prisma),
    new EventRetentionRepository(deps.prisma),
    { partitionSize: env.EVENT_PARTITION_SIZE ?? 1_000_000, partitionsAhead: 2, retentionDays: env.EVENT_RETENTION_DAYS },
    maintenanceLogger,
  );
  const maintenanceLoop = new EventStoreMaintenanceLoop(maintenance, env.EVENT_STORE_MAINTENANCE_PERIOD_MS ?? 60_000, maintenanceLogger);
  await maintenanceLoop.start();

  const handlers = createJobHandlers(runs, logger);
  // Stopped by close(): see there.
  const reconnection = new RedisReconnection();
  const workerConnection = redisConnection(redisTargetFromEnv(env), reconnection);
  const worker = new Worker<ExportJobPayload, void, ExportJobName>(queueName, (job) => dispatchJob(handlers, job), {
    connection: workerConnection,
    prefix: env.BULLMQ_PREFIX,
    concurrency: deps.concurrency ?? 2,
  });
  worker.on('failed', (job, error) => logger.error({ err: error, bullJobId: job?.id, name: job?.name }, 'export job handler failed'));
  worker.on('error', (error) => logger.error({ err: error }, 'export worker error'));
  // Bounded: a Redis that is down at start-up must not keep the process (and an in-process API)
  // from starting; the worker keeps connecting by itself and takes jobs once Redis is back.
  let readyTimer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    worker.waitUntilReady().then(() => true),
    new Promise<false>((resolve) => {
      readyTimer = setTimeout(() => resolve(false), WORKER_READY_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(readyTimer));
  if (ready) logger.info({ queueName }, 'export worker started');
  else logger.warn({ queueName }, `export worker started without Redis (not reachable within ${WORKER_READY_TIMEOUT_MS} ms); it takes jobs once Redis answers`);

  return {
    runs,
    worker,
    schedule,
    async close() {
      await reconcileLoop.stop();
      await maintenanceLoop.stop();
      runs.stopHelping();
      // BullMQ's Worker.close() never ends when it finds one of the worker's connections
      // reconnecting (Redis down, or just back: src/config/redis-reconnection.ts). From here on a
      // lost connection is not tried again; one between attempts ends at its next one, which this
      // waits for before closing. A running export that then cannot record its end in Redis is
      // resumed from PostgreSQL by the next worker.
      reconnection.stop();
      const backend = worker.getBackend();
      await untilNoneReconnecting([backend.client, backend.blockingClient], REDIS_RECONNECT_MAX_DELAY_MS + 1_000);
      await worker.close();
      await endOwnedConnection(workerConnection);
      await queue.close().catch((error: unknown) => logger.warn({ err: error }, 'export worker queue did not close cleanly'));
      await pool.end();
    },
  };
}
