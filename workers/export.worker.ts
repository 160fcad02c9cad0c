import 'reflect-metadata';
import { applyWorkerRuntimeFlags } from './worker-runtime';
import { AwsClientFactory, awsSettingsFromEnv } from '../src/aws/aws-client.factory';
import { createLogger, type Logger } from '../src/common/logger';
import { nodeVersionNote } from '../src/common/node-version';
import { loadEnv, type Env } from '../src/config/env';
import { secretBoxFromEnv } from '../src/crypto/encryption-key';
import { createPrismaClient } from '../src/database/prisma';
import { DigestSigningKeyRepository } from '../src/digest-signing-key/digest-signing-key.repository';
import { DigestSigningKeyService } from '../src/digest-signing-key/digest-signing-key.service';
import { startExportWorker } from './export-worker.factory';

/**
 * With METRICS_PORT, this process's own export counters and process metrics at GET /metrics; the
 * scrape-time gauges (delivery lag, queue depth) are the API's, which reads them for all.
 * The modules are loaded only then: prom-client, and the endpoint's module with the Express
 * router the API mounts, are ~6 MB of RSS a worker without METRICS_PORT would carry for nothing.
 */
async function loadWorkerMetrics(env: Env) {
  if (env.METRICS_PORT === undefined) return undefined;
  const port = env.METRICS_PORT;
  const [{ createMetricsRegistry }, { ExportMetrics }, { startMetricsServer }] = await Promise.all([
    import('../src/metrics/metrics.registry'),
    import('../src/metrics/export.metrics'),
    import('../src/metrics/metrics.endpoint'),
  ]);
  const registry = createMetricsRegistry();
  return {
    exportRuns: new ExportMetrics(registry),
    startServer: (logger: Logger) => startMetricsServer({ registry, token: env.METRICS_TOKEN, logger, host: env.HOST, port }),
  };
}

/**
 * The export worker as a process of its own (`node dist/workers/export.worker.js`), to scale
 * exports out of the API process. Any number can run: a run takes its configuration's lock in
 * PostgreSQL, so two workers never export the same configuration at once.
 */
async function main(): Promise<void> {
  applyWorkerRuntimeFlags();
  const env = loadEnv();
  const logger = createLogger(env.LOG_LEVEL, 'audit-export-worker');
  // Before the AWS clients: the SDK reads its warning switch when the first one is made.
  const nodeNote = nodeVersionNote();
  // First, before any connection: without a usable key the worker must stop at once (same rule as the API).
  const secretBox = secretBoxFromEnv(env, logger);
  if (nodeNote) logger.warn(nodeNote);
  const prisma = createPrismaClient(env.DATABASE_URL, logger);
  const awsClients = new AwsClientFactory(awsSettingsFromEnv(env), secretBox);
  const metrics = await loadWorkerMetrics(env);
  const digestSigningKeys = new DigestSigningKeyService(new DigestSigningKeyRepository(prisma), secretBox);
  const worker = await startExportWorker({ env, logger, prisma, awsClients, digestSigningKeys, metrics: metrics?.exportRuns });
  const metricsServer = metrics ? await metrics.startServer(logger) : undefined;

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'export worker shutting down');
    worker
      .close()
      .then(async () => {
        await metricsServer?.close();
        awsClients.destroy();
        await prisma.$disconnect();
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'export worker shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`export worker failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
