import { randomBytes } from 'node:crypto';
import { redisTargetFromEnv } from '../../src/config/redis-target';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { startExportWorker, type ExportWorker, type ExportWorkerDependencies } from '../../workers/export-worker.factory';
import { startExportHarness, type ExportHarness } from '../export-job/export-fixtures';
import { startTestApp, type TestApp } from '../http/app.fixture';

/**
 * The whole service as `npm start` runs it (API plus its in-process export worker, the same
 * start-up code as src/main.ts) against the sandbox, with a BullMQ prefix of its own and, when
 * given, a Redis of the test's own that the test may stop, restart and flush.
 */
export interface FaultService {
  t: TestApp;
  harness: ExportHarness;
  worker: ExportWorker;
  prefix: string;
  redisUrl: string;
  /** An API key with AUDIT. */
  key: string;
  /** A GraphQL request with the key; fails the test on a GraphQL error unless `allowErrors`. */
  gql<T = any>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<{ data: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }>; ms: number }>;
  close(): Promise<void>;
}

export async function startFaultService(
  options: {
    redisUrl?: string;
    /** A Redis Cluster's startup nodes (REDIS_CLUSTER_NODES); the prefix then carries a hash tag. */
    redisClusterNodes?: string;
    env?: Record<string, string>;
    runOptions?: ExportWorkerDependencies['runOptions'];
  } = {},
): Promise<FaultService> {
  const harness = await startExportHarness();
  const unique = `${process.env.BULLMQ_PREFIX}-faults-${randomBytes(3).toString('hex')}`;
  const prefix = options.redisClusterNodes ? `{${unique}}` : unique;
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const clusterEnv: Record<string, string> = options.redisClusterNodes ? { REDIS_CLUSTER_NODES: options.redisClusterNodes } : {};
  const t = await startTestApp({ sandbox: harness.sandbox, env: { REDIS_URL: redisUrl, ...clusterEnv, BULLMQ_PREFIX: prefix, LOG_LEVEL: 'warn', ...options.env } });
  const worker = await startExportWorker({
    env: t.app.env,
    logger: t.app.logger,
    prisma: t.app.prisma,
    awsClients: t.app.services.awsClients,
    digestSigningKeys: t.app.services.digestSigningKeys,
    runOptions: options.runOptions,
    metrics: t.app.metrics.exportRuns,
  });
  t.app.onStop(() => worker.close());
  const key = await t.createKey('admin', ['AUDIT']);
  return {
    t,
    harness,
    worker,
    prefix,
    redisUrl,
    key,
    async gql(query, variables = {}, headers = {}) {
      const started = Date.now();
      const response = await fetch(`${t.url}/api/audit/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await response.json()) as { data: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
      return { data: body.data, errors: body.errors, ms: Date.now() - started };
    },
    async close() {
      await t.close();
      const queue = createExportQueue({ ...redisTargetFromEnv(t.app.env), prefix });
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await harness.stop();
    },
  };
}

/** The seed's access-key create mutation, signing as the sandbox's `exporter`. */
export function accessKeyInput(harness: ExportHarness, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const exporter = harness.sandbox.user('exporter');
  return {
    interval: 'EVERY_2_HOURS',
    bucket: 'your-s3-bucket',
    path: `faults/${randomBytes(3).toString('hex')}`,
    region: harness.sandbox.region,
    accessKeyId: exporter.accessKeyId,
    secretAccessKey: exporter.secretAccessKey,
    ...overrides,
  };
}

export const CREATE_ACCESS_KEY = `mutation($data: S3AccessKeyExportConfigurationInput!) {
  createS3AccessKeyExportConfiguration(data: $data) { id interval enabled connectionStatus updatedAt runRequestedAt runInProgress }
}`;

/**
 * Ids of every stored event in ingestion order: the ingested ones and the service's own
 * self-audit events (API key and configuration changes), which are exported like any other.
 */
export async function storedEventIds(db: { query<Row extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]> }, afterSequence = '0'): Promise<string[]> {
  const rows = await db.query<{ id: string }>('SELECT id::text FROM audit_events WHERE sequence > $1 ORDER BY sequence', [afterSequence]);
  return rows.map((row) => row.id);
}

export { eventually } from '../support/wait';
