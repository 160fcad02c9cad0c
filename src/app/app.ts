import 'reflect-metadata';
import type { Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { Pool } from 'pg';
import { connectionErrorFields } from '../database/connection-error';
import type { AddressInfo } from 'node:net';
import type { ApolloServer } from '@apollo/server';
import type { Express } from 'express';
import type { DestinationStream } from 'pino';
import { ApiKeyRepository } from '../api-key/api-key.repository';
import { ApiKeyService } from '../api-key/api-key.service';
import { AwsClientFactory, awsSettingsFromEnv } from '../aws/aws-client.factory';
import { createLogger, type Logger } from '../common/logger';
import { PeriodicLoop } from '../common/periodic-loop';
import { loadEnv, parseEnv, type Env } from '../config/env';
import { ConnectionTestService } from '../connection-test/connection-test.service';
import { secretBoxFromEnv } from '../crypto/encryption-key';
import { migrationNames } from '../database/migrate';
import { createPrismaClient, type PrismaClient } from '../database/prisma';
import { ExportConfigurationRepository } from '../export-config/export-config.repository';
import { ExportConfigurationService, type ExportConfigurationServiceDependencies } from '../export-config/export-config.service';
import { ExportConfigurationLifecycleRepository } from '../export-config/export-config-lifecycle.repository';
import { ExportConfigurationLifecycleService } from '../export-config/export-config-lifecycle.service';
import type { GraphQLContext } from '../graphql/graphql.context';
import { createGraphQLServer } from '../graphql/graphql.server';
import { buildGraphQLSchema } from '../graphql/schema';
import { createHttpApp } from '../http/http.app';
import { HealthCheckRepository } from '../health-check/health-check.repository';
import { HealthCheckService } from '../health-check/health-check.service';
import { IdempotencyKeyRepository } from '../idempotency/idempotency-key.repository';
import { ServicePrincipalResolver } from '../setup-policy/service-principal';
import { SetupPolicyService } from '../setup-policy/setup-policy.service';
import type { AppServices } from './app.services';
import { createAppMetrics, type AppMetrics } from './app.metrics';
import { createMetricsRouter } from '../metrics/metrics.endpoint';
import { AuditEventRepository } from '../audit-event/audit-event.repository';
import { PrismaSelfAuditRecorder } from '../audit-event/self-audit.recorder';
import { createExportQueue } from '../export-schedule/export-queue';
import { redisTargetFromEnv } from '../config/redis-target';
import { ExportScheduleRepository } from '../export-schedule/export-schedule.repository';
import { BullmqExportSchedule } from '../export-schedule/export-schedule.service';
import { AuditEventService } from '../audit-event/audit-event.service';
import { ExportJobHistoryRepository } from '../export-job-history/export-job-history.repository';
import { ExportJobService } from '../export-job-history/export-job-history.service';
import { migrationsCheck, postgresCheck, RedisReadinessProbe } from '../readiness/readiness.checks';
import { ReadinessService } from '../readiness/readiness.service';
import { ExportStatusRepository } from '../export-status/export-status.repository';
import { ExportStatusService } from '../export-status/export-status.service';
import { NotificationDeliveryRepository } from '../notification/notification-delivery.repository';
import { NotificationTargetRepository } from '../notification/notification-target.repository';
import { NotificationDispatcher } from '../notification/notification.dispatcher';
import { NotificationService } from '../notification/notification.service';
import { SERVICE_VERSION } from './version';
import { DigestSigningKeyRepository } from '../digest-signing-key/digest-signing-key.repository';
import { DigestSigningKeyService } from '../digest-signing-key/digest-signing-key.service';
import { EventRetentionRepository } from '../event-retention/event-retention.repository';
import { EventRetentionService } from '../event-retention/event-retention.service';

export interface CreateAppOptions {
  /** Raw environment variables, parsed by the env schema; defaults to process.env (and .env). */
  env?: Record<string, string | undefined>;
  /** Where log lines go (tests capture them); defaults to stdout. */
  logDestination?: DestinationStream;
}

/** The assembled service. Nothing listens and no worker runs until `start()` / the worker hook. */
export interface App {
  env: Readonly<Env>;
  logger: Logger;
  prisma: PrismaClient;
  services: AppServices;
  /** The process's metrics registry (GET /metrics); hand `metrics.exportRuns` to an in-process worker. */
  metrics: AppMetrics;
  http: Express;
  /**
   * Rebuilds the job schedulers from PostgreSQL, then listens on HOST:PORT (PORT=0 picks a free
   * port) and returns the base URL. `reconcileSchedules: false` skips the rebuild, for a process
   * whose in-process worker has just done it.
   */
  start(options?: { reconcileSchedules?: boolean }): Promise<{ url: string; port: number }>;
  /** Registers cleanup for stop() (e.g. closing a worker); hooks run in reverse order, first. */
  onStop(hook: () => Promise<void>): void;
  /** Stops accepting requests, lets running ones finish, runs the hooks, closes connections. */
  stop(): Promise<void>;
}

/**
 * The composition root: the one place where configuration, connections and services are created
 * and handed to each other. Constructors elsewhere take their dependencies explicitly.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<App> {
  const env = options.env ? parseEnv(options.env) : loadEnv();
  const logger = createLogger(env.LOG_LEVEL, 'audit-export', options.logDestination);
  // First, before any connection: without a usable key the process must stop at once.
  const secretBox = secretBoxFromEnv(env, logger);
  const prisma = createPrismaClient(env.DATABASE_URL, logger);
  // Ingestion's own pool: a batch is one statement with ~1 MB of text parameters, which pg sends
  // as they are, while Prisma would process each of them first (issue #11). As many connections as
  // can usefully run at once on this machine; more requests wait here, not in PostgreSQL.
  const ingestPool = new Pool({ connectionString: env.DATABASE_URL, max: 2 * availableParallelism() });
  // An idle client whose session ends (a restart, a failover) is dropped by the pool, which then
  // emits 'error': unheard, that would end the process. The next checkout connects afresh.
  ingestPool.on('error', (error) => logger.warn({ err: connectionErrorFields(error) }, 'an idle ingest database connection failed; the pool dropped it'));

  // Ports that the export-config and api-key services call, implemented by other features.
  const auditEventRepository = new AuditEventRepository();
  const selfAudit = new PrismaSelfAuditRecorder(auditEventRepository);
  // The export queue, shared with the worker; job schedulers follow the configurations.
  const exportQueue = createExportQueue({ ...redisTargetFromEnv(env), prefix: env.BULLMQ_PREFIX, logger });
  const exportSchedule = new BullmqExportSchedule(exportQueue, new ExportScheduleRepository(prisma), logger);
  const metrics = createAppMetrics({ prisma, exportQueue, collectTimeoutMs: env.METRICS_COLLECT_TIMEOUT_MS, logger });

  const awsSettings = awsSettingsFromEnv(env);
  const awsClients = new AwsClientFactory(awsSettings, secretBox);
  const connectionTests = new ConnectionTestService(awsClients, { timeoutMs: env.CONNECTION_TEST_TIMEOUT_MS, serviceVersion: SERVICE_VERSION }, logger, metrics.connectionTests);
  // The principal customers' trust policies name (sts:GetCallerIdentity, on first use).
  const servicePrincipal = new ServicePrincipalResolver({ region: awsSettings.stsRegion, endpoint: awsSettings.stsEndpoint, credentials: awsSettings.serviceCredentials }, logger);
  // The create and lifecycle services work on the same rows with the same collaborators.
  const exportConfigurationRepository = new ExportConfigurationRepository(prisma);
  const exportConfigurationDependencies: ExportConfigurationServiceDependencies = {
    repository: exportConfigurationRepository,
    connectionTests,
    secretBox,
    selfAudit,
    schedule: exportSchedule,
    logger,
    healthCheckPeriodMs: env.HEALTH_CHECK_PERIOD_MS,
    idempotencyKeys: new IdempotencyKeyRepository(prisma),
  };
  const notificationDeliveries = new NotificationDeliveryRepository(prisma);
  const services: AppServices = {
    secretBox,
    awsClients,
    apiKeys: new ApiKeyService(new ApiKeyRepository(prisma), selfAudit),
    exportConfigurations: new ExportConfigurationService(exportConfigurationDependencies),
    exportConfigurationLifecycle: new ExportConfigurationLifecycleService({
      ...exportConfigurationDependencies,
      lifecycleRepository: new ExportConfigurationLifecycleRepository(),
    }),
    setupPolicies: new SetupPolicyService(exportConfigurationRepository, servicePrincipal),
    auditEvents: new AuditEventService(ingestPool, auditEventRepository),
    exportJobs: new ExportJobService({
      history: new ExportJobHistoryRepository(prisma),
      runQueue: exportSchedule,
      configurations: { requestRun: (id) => services.exportConfigurations.requestRun(id) },
      logger,
    }),
    exportStatus: new ExportStatusService(new ExportStatusRepository(prisma)),
    notifications: new NotificationService(
      new NotificationTargetRepository(prisma),
      notificationDeliveries,
      secretBox,
      async (id) => (await exportConfigurationRepository.findById(id)) !== null,
    ),
    digestSigningKeys: new DigestSigningKeyService(new DigestSigningKeyRepository(prisma), secretBox),
    eventRetention: new EventRetentionService(new EventRetentionRepository(prisma)),
  };
  // Re-tests failing configurations in the background (every process may run it: rows are
  // claimed with SKIP LOCKED, so correctness does not depend on running in exactly one place, and
  // a plain timer is enough: the pass is cheap when nothing is due). Started by start(), stopped by stop().
  const healthChecks = new HealthCheckService(
    new HealthCheckRepository(prisma),
    { test: (candidate) => connectionTests.test(candidate, 'health_check') },
    {
      periodMs: env.HEALTH_CHECK_PERIOD_MS,
      maxBackoffMs: env.HEALTH_CHECK_MAX_BACKOFF_MS,
      // Longer than the longest connection test, so no second process tests the same row meanwhile.
      leaseMs: env.CONNECTION_TEST_TIMEOUT_MS * 2,
    },
    logger,
    undefined,
    // A configuration that works again gets its failed export retried at once.
    exportSchedule,
  );
  const healthCheckLoop = new PeriodicLoop('health check', env.HEALTH_CHECK_PERIOD_MS, async () => void (await healthChecks.runOnce()), logger);

  // What GET /readyz checks. The migrations this build needs are read once: they are part of the build.
  const redisProbe = new RedisReadinessProbe(redisTargetFromEnv(env), env.READINESS_CHECK_TIMEOUT_MS, logger);
  const readiness = new ReadinessService(
    { postgres: postgresCheck(prisma), migrations: migrationsCheck(prisma, await migrationNames()), redis: redisProbe.check },
    env.READINESS_CHECK_TIMEOUT_MS,
  );

  // Sends queued alerts (issue #12), in every process like the health check (SKIP LOCKED claims).
  const notificationDispatcher = new NotificationDispatcher(
    notificationDeliveries,
    secretBox,
    { timeoutMs: env.NOTIFICATION_TIMEOUT_MS, maxAttempts: env.NOTIFICATION_MAX_ATTEMPTS, retryBaseDelayMs: env.NOTIFICATION_RETRY_BASE_DELAY_MS, batchSize: 10 },
    logger.child({ component: 'notifications' }),
  );
  const notificationLoop = new PeriodicLoop('notification', env.NOTIFICATION_POLL_PERIOD_MS, async () => void (await notificationDispatcher.runOnce()), logger);

  const graphql: ApolloServer<GraphQLContext> = createGraphQLServer(await buildGraphQLSchema(services), logger, [metrics.http.graphqlPlugin<GraphQLContext>()]);
  await graphql.start();
  const http = createHttpApp({
    logger,
    apiKeys: services.apiKeys,
    graphql,
    graphqlMaxBodyBytes: env.GRAPHQL_MAX_BODY_BYTES,
    auditEvents: services.auditEvents,
    ingestMaxBodyBytes: env.INGEST_MAX_BODY_BYTES,
    readiness: () => readiness.check(),
    version: SERVICE_VERSION,
    metrics: {
      middleware: metrics.http.middleware,
      router: createMetricsRouter({ registry: metrics.registry, token: env.METRICS_TOKEN, logger }),
      ingest: metrics.ingest,
    },
  });

  let server: Server | undefined;
  const stopHooks: Array<() => Promise<void>> = [];
  let stopping: Promise<void> | undefined;

  return {
    env,
    logger,
    prisma,
    services,
    metrics,
    http,
    async start({ reconcileSchedules: reconcile = true } = {}) {
      // PostgreSQL is the source of truth for schedules; Redis may have lost them.
      if (reconcile) await reconcileSchedules(exportSchedule, logger);
      server = await new Promise<Server>((resolve, reject) => {
        const listening = http.listen(env.PORT, env.HOST, (error?: Error) => (error ? reject(error) : resolve(listening)));
      });
      const { port } = server.address() as AddressInfo;
      const url = `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${port}`;
      logger.info({ url, version: SERVICE_VERSION }, 'audit export service listening');
      void healthCheckLoop.start();
      void notificationLoop.start();
      return { url, port };
    },
    onStop(hook) {
      stopHooks.push(hook);
    },
    stop() {
      stopping ??= (async () => {
        if (server) await closeServer(server);
        for (const hook of [...stopHooks].reverse()) await hook();
        await healthCheckLoop.stop();
        await notificationLoop.stop();
        // Ends the queue's Redis client even while Redis is down (createExportQueue); whatever else
        // goes wrong in closing it, stopping must go on. The readiness probe's client ends at once.
        await exportQueue.close().catch((error: unknown) => logger.warn({ err: error }, 'export queue did not close cleanly'));
        redisProbe.close();
        servicePrincipal.destroy();
        await graphql.stop();
        awsClients.destroy();
        await prisma.$disconnect();
        await ingestPool.end();
        logger.info('audit export service stopped');
      })();
      return stopping;
    },
  };
}

/** Stops accepting connections, lets running requests finish (bounded), then cuts the rest. */
async function closeServer(server: Server, graceMs = 10_000): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}

/**
 * Rebuilds the job schedulers from PostgreSQL at start-up. An unreachable Redis must not keep the
 * API from serving, so this is bounded and only logged: the worker reconciles again when it starts.
 */
async function reconcileSchedules(schedule: BullmqExportSchedule, logger: Logger, timeoutMs = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      schedule.reconcile(),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    logger.error({ err: error }, 'could not reconcile the export schedulers with the configurations');
  } finally {
    clearTimeout(timer);
  }
}
