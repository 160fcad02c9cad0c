import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BUCKET, createAccessKeyConfiguration, ingestEvents, readExports, startExportHarness, uamEvent, type ExportHarness } from '../export-job/export-fixtures';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { accessKeyInput, CREATE_ACCESS_KEY, eventually, startFaultService, type FaultService } from '../faults/fault.fixture';
import { startTestRedisServer, type TestRedisServer } from '../support/redis-server';
import { parsePrometheusText, sampleValue, scrapeMetrics, type MetricFamily } from '../support/prometheus-text';

jest.setTimeout(120_000);

const JOBS = `query($id: String!) { getAllExportJobs(exportConfigurationId: $id) { id status eventCount } }`;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** Sizes of the exported objects under `prefix`, read back as the sandbox's `auditor`. */
async function objectSizes(harness: ExportHarness, prefix: string): Promise<number[]> {
  const auditor = harness.sandbox.user('auditor');
  const s3 = new S3Client({
    region: harness.sandbox.region,
    endpoint: harness.sandbox.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: auditor.accessKeyId, secretAccessKey: auditor.secretAccessKey },
  });
  try {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (page.Contents ?? []).filter((object) => object.Key!.endsWith('.ndjson.gz')).map((object) => object.Size!);
  } finally {
    s3.destroy();
  }
}

/** The `audit_export_` names docs/metrics.md documents: the first column of its tables. */
function documentedNames(): Set<string> {
  const text = readFileSync(join(__dirname, '../../docs/metrics.md'), 'utf8');
  return new Set([...text.matchAll(/^\|\s*`(audit_export_[a-z0-9_]+)`/gm)].map((match) => match[1]));
}

function servedNames(families: Map<string, MetricFamily>): Set<string> {
  return new Set([...families.keys()].filter((name) => name.startsWith('audit_export_')));
}

describe('GET /metrics of the running service (API, in-process worker, sandbox S3)', () => {
  let service: FaultService;

  beforeAll(async () => {
    // No background retries or health checks during the test: every count below is caused by it.
    service = await startFaultService({
      env: { HEALTH_CHECK_PERIOD_MS: '3600000', EXPORT_RETRY_BASE_DELAY_MS: '3600000', SCHEDULE_RECONCILE_PERIOD_MS: '3600000' },
      runOptions: { maxTaskAttempts: 2, retryBaseDelayMs: 20, retryMaxDelayMs: 50 },
    });
  });
  afterAll(async () => {
    service?.harness.sandbox.setFaults(null);
    await service?.close();
  });

  it('serves valid Prometheus text whose series count what the service did', async () => {
    const { t, harness } = service;
    let graphqlRequests = 0;
    const gql: FaultService['gql'] = async (...args) => {
      graphqlRequests += 1;
      return service.gql(...args);
    };

    // Ingestion: 25 new events, then 5 of them again.
    const ingestKey = await t.createKey('producer', ['INGEST']);
    const events = Array.from({ length: 25 }, (_, index) => uamEvent(index));
    const ingest = async (batch: Array<Record<string, unknown>>) => {
      const response = await fetch(`${t.url}/api/audit/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${ingestKey}` },
        body: batch.map((event) => JSON.stringify(event)).join('\n'),
      });
      expect(response.status).toBe(200);
    };
    await ingest(events);
    await ingest(events.slice(0, 5));

    // A configuration that works: created (connection test passes), exported at once.
    const okInput = accessKeyInput(harness);
    const created = await gql(CREATE_ACCESS_KEY, { data: okInput });
    expect(created.errors).toBeUndefined();
    const okId = created.data.createS3AccessKeyExportConfiguration.id as string;
    await eventually(
      'the first export to succeed',
      async () => {
        const jobs = (await gql(JOBS, { id: okId })).data.getAllExportJobs;
        return jobs.length === 1 && jobs[0].status === 'SUCCEEDED' ? jobs : undefined;
      },
      30_000,
    );
    const delivered = (await readExports(harness.sandbox, `${okInput.path}/`)).flatMap((object) => object.events);
    expect(delivered.length).toBeGreaterThanOrEqual(25);

    // 10 more events, and a second run for them through a passing S3 outage: the SDK sends
    // requests again (client retries).
    await ingest(Array.from({ length: 10 }, (_, index) => uamEvent(100 + index)));
    // Every second S3 request fails: this one passes, the export's first PutObject fails and its resend passes.
    harness.sandbox.setFaults({ s3FailureRatio: 1 / 2, status: 503 });
    await objectSizes(harness, `${okInput.path}/`);
    expect((await gql(`mutation($id: String!) { runExportConfiguration(id: $id) { id } }`, { id: okId })).errors).toBeUndefined();
    await eventually(
      'the second export to succeed',
      async () => {
        const jobs = (await gql(JOBS, { id: okId })).data.getAllExportJobs;
        return jobs.length === 2 && jobs.every((job: { status: string }) => job.status === 'SUCCEEDED') ? jobs : undefined;
      },
      30_000,
    );
    harness.sandbox.setFaults(null);
    const deliveredEvents = (await readExports(harness.sandbox, `${okInput.path}/`)).flatMap((object) => object.events).length;
    const sizes = await objectSizes(harness, `${okInput.path}/`);

    // A configuration whose bucket refuses everything: its connection test fails, and so does its first export.
    harness.sandbox.setFaults({ s3FailureRatio: 1, status: 403, code: 'AccessDenied' });
    const failing = await gql(CREATE_ACCESS_KEY, { data: accessKeyInput(harness) });
    expect(failing.errors).toBeUndefined();
    const failingId = failing.data.createS3AccessKeyExportConfiguration.id as string;
    await eventually(
      'the failing export to fail',
      async () => {
        const jobs = (await gql(JOBS, { id: failingId })).data.getAllExportJobs;
        return jobs.length === 1 && jobs[0].status === 'FAILED' ? jobs : undefined;
      },
      30_000,
    );
    harness.sandbox.setFaults(null);

    // Named GraphQL operations, and one that errors.
    for (let index = 0; index < 3; index += 1) expect((await gql(`query MetricsProbe { getAllExportConfigurations { id } }`)).errors).toBeUndefined();
    expect((await gql(`query { noSuchField }`)).errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const { status, text, contentType } = await scrapeMetrics(t.url);
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = parsePrometheusText(text);
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(metrics, name, labels);

    // prom-client's default process metrics are there.
    expect(value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(metrics.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');

    // Ingestion.
    expect(value('audit_export_events_ingested_total', { result: 'accepted' })).toBe(35);
    expect(value('audit_export_events_ingested_total', { result: 'duplicate' })).toBe(5);
    expect(value('audit_export_ingest_request_duration_seconds_count', { outcome: 'stored' })).toBe(3);

    // Exports of the working configuration: what is in its bucket.
    expect(value('audit_export_events_exported_total', { configuration_id: okId })).toBe(deliveredEvents);
    expect(value('audit_export_objects_uploaded_total', { configuration_id: okId })).toBe(sizes.length);
    expect(value('audit_export_exported_bytes_total', { configuration_id: okId })).toBe(sizes.reduce((sum, size) => sum + size, 0));
    // Nothing reached the failing configuration's bucket.
    expect(value('audit_export_events_exported_total', { configuration_id: failingId })).toBeUndefined();
    expect(value('audit_export_task_retries_total', { kind: 'client' })).toBeGreaterThanOrEqual(1);
    expect(value('audit_export_task_retries_total', { kind: 'task' })).toBeDefined();

    // Job, task and run outcomes.
    expect(value('audit_export_jobs_total', { outcome: 'succeeded' })).toBe(2);
    expect(value('audit_export_jobs_total', { outcome: 'failed' })).toBe(1);
    expect(value('audit_export_jobs_total', { outcome: 'superseded' })).toBe(0);
    expect(value('audit_export_tasks_total', { outcome: 'failed' })).toBe(1);
    expect(value('audit_export_tasks_total', { outcome: 'succeeded' })).toBe(sizes.length);
    expect(value('audit_export_run_duration_seconds_count', { outcome: 'succeeded' })).toBe(2);
    expect(value('audit_export_run_duration_seconds_count', { outcome: 'failed' })).toBe(1);

    // Connection tests: the two creates.
    expect(value('audit_export_connection_tests_total', { result: 'success', trigger: 'create' })).toBe(1);
    expect(value('audit_export_connection_tests_total', { result: 'failure', trigger: 'create' })).toBe(1);
    expect(value('audit_export_connection_tests_total', { result: 'failure', trigger: 'health_check' })).toBe(0);

    // Delivery lag, read at scrape time: the failing configuration has everything still to deliver.
    const [{ oldest }] = await t.db.query<{ oldest: string }>('SELECT extract(epoch FROM min(received_timestamp))::text AS oldest FROM audit_events');
    const failingLag = value('audit_export_delivery_lag_seconds', { configuration_id: failingId })!;
    expect(failingLag).toBeGreaterThan(0);
    expect(failingLag).toBeGreaterThanOrEqual(Date.now() / 1000 - Number(oldest) - 30);
    expect(value('audit_export_delivery_lag_seconds', { configuration_id: okId })).toBeGreaterThanOrEqual(0);

    // Queue depth by state, and both scrape-time readings up.
    for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(value('audit_export_queue_jobs', { state })).toBeGreaterThanOrEqual(0);
    expect(value('audit_export_scrape_collector_up', { collector: 'delivery_lag' })).toBe(1);
    expect(value('audit_export_scrape_collector_up', { collector: 'queue_depth' })).toBe(1);
    expect(value('audit_export_scrape_errors_total', { collector: 'queue_depth' })).toBe(0);

    // HTTP latency by route template (never a raw path), and GraphQL latency by operation.
    const httpSamples = metrics.get('audit_export_http_request_duration_seconds')!.samples;
    const graphqlCount = httpSamples
      .filter((sample) => sample.name.endsWith('_count') && sample.labels.route === '/api/audit/graphql')
      .reduce((sum, sample) => sum + sample.value, 0);
    expect(graphqlCount).toBeGreaterThanOrEqual(graphqlRequests);
    expect(value('audit_export_http_request_duration_seconds_count', { method: 'POST', route: '/api/audit/graphql', status_code: '400' })).toBe(1);
    expect(value('audit_export_http_request_duration_seconds_count', { method: 'POST', route: '/api/audit/events', status_code: '200' })).toBe(3);
    const httpRoutes = httpSamples.map((sample) => sample.labels.route);
    expect(httpRoutes.some((route) => UUID.test(route))).toBe(false);
    expect(value('audit_export_graphql_operation_duration_seconds_count', { operation: 'MetricsProbe', errored: 'false' })).toBe(3);
    expect(value('audit_export_graphql_operation_duration_seconds_count', { operation: 'anonymous', errored: 'true' })).toBe(1);

    // docs/metrics.md lists exactly what is served.
    expect([...servedNames(metrics)].sort()).toEqual([...documentedNames()].sort());
  });
});

describe('GET /metrics with METRICS_TOKEN, and with Redis down', () => {
  const token = 'metrics-token-0123456789abcdef';
  const prefix = `${process.env.BULLMQ_PREFIX}-metrics-${randomBytes(3).toString('hex')}`;
  let redis: TestRedisServer;
  let harness: ExportHarness;
  let t: TestApp;

  // The API alone, without a worker: the scrape-time readings are the API's.
  beforeAll(async () => {
    redis = await startTestRedisServer();
    harness = await startExportHarness();
    t = await startTestApp({
      sandbox: harness.sandbox,
      env: { REDIS_URL: redis.url, BULLMQ_PREFIX: prefix, LOG_LEVEL: 'warn', METRICS_TOKEN: token, METRICS_COLLECT_TIMEOUT_MS: '1000' },
    });
  });
  let redisDown = false;
  afterAll(async () => {
    if (redisDown) await redis.start();
    await t?.close();
    await harness?.stop();
    await redis.close();
  });

  it('answers 401 in the service error shape without the token, and the metrics with it', async () => {
    const apiKey = await t.createKey('admin', ['AUDIT']);
    for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${token}`, `Bearer ${apiKey}`, `Bearer ${token}x`]) {
      const answer = await scrapeMetrics(t.url, authorization);
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text)).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'UNAUTHENTICATED' } }] });
      expect(answer.text).not.toContain('audit_export_');
    }
    const answer = await scrapeMetrics(t.url, `Bearer ${token}`);
    expect(answer.status).toBe(200);
    expect(sampleValue(parsePrometheusText(answer.text), 'audit_export_scrape_collector_up', { collector: 'queue_depth' })).toBe(1);
  });

  it('still answers, within the collect timeout, while Redis is down: no queue depth, collector down, error counted', async () => {
    const id = await createAccessKeyConfiguration(t.db.prisma, harness);
    await ingestEvents(t.db.prisma, 3);
    await redis.stop();
    redisDown = true;
    const started = Date.now();
    const answer = await scrapeMetrics(t.url, `Bearer ${token}`);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(answer.status).toBe(200);
    const metrics = parsePrometheusText(answer.text);
    expect(metrics.get('audit_export_queue_jobs')!.samples).toEqual([]);
    expect(sampleValue(metrics, 'audit_export_scrape_collector_up', { collector: 'queue_depth' })).toBe(0);
    expect(sampleValue(metrics, 'audit_export_scrape_errors_total', { collector: 'queue_depth' })).toBeGreaterThanOrEqual(1);
    // PostgreSQL still answers: the delivery lag is there, and it is not 0 (3 events wait).
    expect(sampleValue(metrics, 'audit_export_scrape_collector_up', { collector: 'delivery_lag' })).toBe(1);
    expect(sampleValue(metrics, 'audit_export_delivery_lag_seconds', { configuration_id: id })).toBeGreaterThan(0);

    // Back once Redis is (the app's queue reconnects by itself; closing it before would fail).
    await redis.start();
    redisDown = false;
    await eventually(
      'the queue depth to be read again',
      async () => {
        const again = parsePrometheusText((await scrapeMetrics(t.url, `Bearer ${token}`)).text);
        return sampleValue(again, 'audit_export_scrape_collector_up', { collector: 'queue_depth' }) === 1 ? again : undefined;
      },
      15_000,
      250,
    );
  });
});
