import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createExportQueue, schedulerIdFor } from '../../src/export-schedule/export-queue';
import { ingestEvents } from '../export-job/export-fixtures';
import { parsePrometheusText, sampleValue, scrapeMetrics } from '../support/prometheus-text';
import { accessKeyInput, eventually, startFaultService, type FaultService } from './fault.fixture';

jest.setTimeout(120_000);

/** A local webhook receiver that records every request with its raw body. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: any;
}
async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({ path: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** What a receiver does to check a request (docs/alerts.md): HMAC-SHA256 over `<timestamp>.<raw body>`. */
function expectSigned(request: Received, secret: string): void {
  const timestamp = request.headers['x-audit-export-timestamp'] as string;
  expect(timestamp).toMatch(/^\d+$/);
  expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(120);
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${request.raw}`).digest('hex')}`;
  expect(request.headers['x-audit-export-signature']).toBe(expected);
  // And a signature under another secret does not match: the test can fail for the right reason.
  expect(request.headers['x-audit-export-signature']).not.toBe(`sha256=${createHmac('sha256', 'other').update(`${timestamp}.${request.raw}`).digest('hex')}`);
}

const CREATE = `mutation($data: S3AccessKeyExportConfigurationInput!) {
  createS3AccessKeyExportConfiguration(data: $data) { id notificationTargets { type url signed } }
}`;
const STATUS_FIELDS = 'id enabled connectionStatus lastDeliveredAt lastDeliveredSequence deliveryLagSeconds lastError consecutiveFailures nextRunAt disabledReason';
const CONFIGURATION = `query($id: String!) { getExportConfiguration(id: $id) { ${STATUS_FIELDS} } }`;
const STATUSES = `query { getExportConfigurationStatuses { ${STATUS_FIELDS} interval bucket path } }`;
const JOBS = `query($id: String!) { getAllExportJobs(exportConfigurationId: $id) { id status eventCount endTimestamp oldestEventReceivedAt } }`;
const RUN = `mutation($id: String!) { runExportConfiguration(id: $id) { id } }`;
const SECRET = 'whsec-test-0123456789';

async function createWithTargets(service: FaultService, receiverUrl: string): Promise<string> {
  const withUserinfo = receiverUrl.replace('http://', 'http://hook-user:hook-pass@');
  const created = await service.gql(CREATE, {
    data: accessKeyInput(service.harness, {
      interval: 'EVERY_24_HOURS',
      notificationTargets: [
        { type: 'WEBHOOK', url: `${withUserinfo}/hook`, secret: SECRET },
        { type: 'SLACK', url: `${receiverUrl}/slack` },
      ],
    }),
  });
  expect(created.errors).toBeUndefined();
  const configuration = created.data.createS3AccessKeyExportConfiguration;
  // The secret is write-only and the userinfo is never shown.
  expect(configuration.notificationTargets).toEqual([
    { type: 'WEBHOOK', url: `${receiverUrl}/hook`, signed: true },
    { type: 'SLACK', url: `${receiverUrl}/slack`, signed: false },
  ]);
  const id = configuration.id as string;
  // The first export runs at once after the create; let it finish while the bucket still works.
  await eventually(
    'the first export to succeed',
    async () => {
      const jobs = (await service.gql(JOBS, { id })).data.getAllExportJobs;
      return jobs.length > 0 && jobs.every((job: { status: string }) => job.status === 'SUCCEEDED') ? true : undefined;
    },
    30_000,
  );
  return id;
}

/**
 * The running service's /metrics (docs/metrics.md) as the figures this test follows for one
 * configuration. Job and task outcomes carry no configuration label (docs/metrics.md keeps labels
 * bounded); the service of the failure test exports that one configuration only, so they are its own.
 */
async function exportMetrics(service: FaultService, configurationId: string) {
  const answer = await scrapeMetrics(service.t.url);
  expect(answer.status).toBe(200);
  const families = parsePrometheusText(answer.text);
  const value = (name: string, labels: Record<string, string> = {}) => sampleValue(families, name, labels) ?? 0;
  return {
    jobsFailed: value('audit_export_jobs_total', { outcome: 'failed' }),
    jobsSucceeded: value('audit_export_jobs_total', { outcome: 'succeeded' }),
    tasksFailed: value('audit_export_tasks_total', { outcome: 'failed' }),
    tasksSucceeded: value('audit_export_tasks_total', { outcome: 'succeeded' }),
    runsFailed: value('audit_export_run_duration_seconds_count', { outcome: 'failed' }),
    eventsExported: value('audit_export_events_exported_total', { configuration_id: configurationId }),
    // Absent (not 0) when the scrape could not read it: a missing lag must not pass for "none".
    deliveryLagSeconds: sampleValue(families, 'audit_export_delivery_lag_seconds', { configuration_id: configurationId }),
  };
}

const FAST = { EXPORT_RETRY_BASE_DELAY_MS: '1000', HEALTH_CHECK_PERIOD_MS: '3600000', SCHEDULE_RECONCILE_PERIOD_MS: '3600000', NOTIFICATION_POLL_PERIOD_MS: '100' };

describe('alerts of a configuration whose bucket starts refusing writes', () => {
  let service: FaultService;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    service = await startFaultService({ env: { ...FAST, LOG_LEVEL: 'trace' }, runOptions: { maxTaskAttempts: 1, requestMaxAttempts: 1 } });
  });
  afterAll(async () => {
    await service?.close();
    await receiver?.close();
  });

  it('refuses a target URL that is not http(s), naming the field, and creates nothing', async () => {
    const [{ count: before }] = await service.t.db.query<{ count: string }>('SELECT count(*)::text AS count FROM export_configurations');
    const result = await service.gql(CREATE, {
      data: accessKeyInput(service.harness, { notificationTargets: [{ type: 'WEBHOOK', url: 'ftp://127.0.0.1/hook' }] }),
    });
    expect(result.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'data.notificationTargets[0].url' });
    const [{ count: after }] = await service.t.db.query<{ count: string }>('SELECT count(*)::text AS count FROM export_configurations');
    expect(after).toBe(before);
  });

  it('signals the failure once, shows it in the status, and signals the recovery', async () => {
    const { db } = service.t;
    const { sandbox } = service.harness;
    const id = await createWithTargets(service, receiver.url);
    const [stored] = await db.query<{ secret_ciphertext: string }>('SELECT secret_ciphertext FROM notification_targets WHERE configuration_id = $1 AND position = 0', [id]);
    expect(stored.secret_ciphertext).not.toContain(SECRET);
    const [{ updated_at: updatedAt, version }] = await db.query<{ updated_at: Date; version: number }>('SELECT updated_at, version FROM export_configurations WHERE id = $1', [id]);
    // The first export's figures: what the failures below are counted from.
    const before = await exportMetrics(service, id);
    expect(before).toMatchObject({ jobsFailed: 0, tasksFailed: 0, runsFailed: 0 });
    expect(before.jobsSucceeded).toBeGreaterThanOrEqual(1);

    await ingestEvents(db.prisma, 50);
    sandbox.setFaults({ s3FailureRatio: 1, status: 403, code: 'AccessDenied' });
    expect((await service.gql(RUN, { id })).errors).toBeUndefined();

    const failed = await eventually('a signed failure notification', async () => receiver.received.find((r) => r.path === '/hook' && r.body.event === 'export.failed'), 30_000);
    expectSigned(failed, SECRET);
    expect(failed.headers.authorization).toBe(`Basic ${Buffer.from('hook-user:hook-pass').toString('base64')}`);
    expect(failed.body).toMatchObject({
      event: 'export.failed',
      configurationId: id,
      bucket: 'your-s3-bucket',
      consecutiveFailures: 1,
      lastError: expect.stringMatching(/AccessDenied|Access Denied/),
    });
    expect(failed.body.deliveryLagSeconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(failed.body.at)).not.toBeNaN();
    const slack = await eventually(
      'the Slack-style failure notification',
      async () => receiver.received.find((r) => r.path === '/slack' && /failing/.test(r.body.text ?? '')),
      30_000,
    );
    expect(slack.body.blocks).toEqual(expect.any(Array));
    expect(slack.headers['x-audit-export-signature']).toBeUndefined();

    // The retries keep failing (backoff from 1 s): counted, but alerted only once.
    const failing = await eventually(
      'two failed runs in a row',
      async () => {
        const configuration = (await service.gql(CONFIGURATION, { id })).data.getExportConfiguration;
        return configuration.consecutiveFailures >= 2 ? configuration : undefined;
      },
      30_000,
    );
    expect(failing.lastError).toMatch(/AccessDenied|Access Denied/);
    expect(failing.deliveryLagSeconds).toBeGreaterThan(0);
    expect(Date.parse(failing.nextRunAt)).toBeGreaterThan(Date.now() - 5_000);
    const statuses = (await service.gql(STATUSES)).data.getExportConfigurationStatuses;
    expect(statuses.find((s: { id: string }) => s.id === id)).toMatchObject({
      consecutiveFailures: expect.any(Number),
      lastError: expect.stringMatching(/AccessDenied|Access Denied/),
      enabled: true,
    });
    expect(receiver.received.filter((r) => r.path === '/hook' && r.body.event === 'export.failed')).toHaveLength(1);

    // /metrics shows the failures: failed jobs, tasks and runs counted (at least one per failure
    // the API shows; the run's counters follow its status update), nothing exported meanwhile,
    // and the configuration's delivery lag growing.
    const whileFailing = await eventually(
      'the failures in /metrics',
      async () => {
        const metrics = await exportMetrics(service, id);
        return metrics.jobsFailed >= failing.consecutiveFailures ? metrics : undefined;
      },
      5_000,
    );
    expect(whileFailing.jobsFailed).toBeGreaterThanOrEqual(2);
    expect(whileFailing.tasksFailed).toBeGreaterThanOrEqual(2);
    expect(whileFailing.runsFailed).toBeGreaterThanOrEqual(2);
    expect(whileFailing.jobsSucceeded).toBe(before.jobsSucceeded);
    expect(whileFailing.eventsExported).toBe(before.eventsExported);
    expect(whileFailing.deliveryLagSeconds).toBeGreaterThan(0);

    sandbox.setFaults(null);
    const recovered = await eventually(
      'a signed recovery notification',
      async () => receiver.received.find((r) => r.path === '/hook' && r.body.event === 'export.recovered'),
      30_000,
    );
    expectSigned(recovered, SECRET);
    expect(recovered.body).toMatchObject({ configurationId: id, consecutiveFailures: 0, lastError: null });
    const healthy = (await service.gql(CONFIGURATION, { id })).data.getExportConfiguration;
    expect(healthy).toMatchObject({ consecutiveFailures: 0, lastError: null, enabled: true, disabledReason: null });
    expect(healthy.deliveryLagSeconds).toBeLessThan(2);
    const [{ cursor }] = await db.query<{ cursor: string }>('SELECT cursor::text FROM export_configurations WHERE id = $1', [id]);
    expect(healthy.lastDeliveredSequence).toBe(cursor);
    expect(Date.parse(healthy.lastDeliveredAt)).toBeGreaterThan(Date.parse(failed.body.at));

    // And /metrics shows the recovery: a succeeded job with its tasks, the 50 events exported, the lag back near zero.
    const recoveredMetrics = await eventually(
      'the recovery in /metrics',
      async () => {
        const metrics = await exportMetrics(service, id);
        return metrics.jobsSucceeded > before.jobsSucceeded ? metrics : undefined;
      },
      5_000,
    );
    expect(recoveredMetrics.tasksSucceeded).toBeGreaterThan(before.tasksSucceeded);
    expect(recoveredMetrics.eventsExported - before.eventsExported).toBeGreaterThanOrEqual(50);
    expect(recoveredMetrics.jobsFailed).toBeGreaterThanOrEqual(whileFailing.jobsFailed);
    expect(recoveredMetrics.deliveryLagSeconds).toBeDefined();
    expect(recoveredMetrics.deliveryLagSeconds).toBeLessThan(2);

    // The job history charts the lag: endTimestamp - oldestEventReceivedAt.
    const [newest] = (await service.gql(JOBS, { id })).data.getAllExportJobs;
    expect(newest).toMatchObject({ status: 'SUCCEEDED', eventCount: expect.any(Number) });
    expect(Date.parse(newest.endTimestamp)).toBeGreaterThan(Date.parse(newest.oldestEventReceivedAt));

    const deliveries = await eventually(
      'every delivery recorded as delivered',
      async () => {
        const result = await service.gql(
          `query($id: String!) { getAllNotificationDeliveries(exportConfigurationId: $id) { event targetType url status attempts responseStatus } }`,
          { id },
        );
        const list = result.data.getAllNotificationDeliveries as Array<{ status: string }>;
        return list.length === 4 && list.every((d) => d.status === 'SUCCEEDED') ? list : undefined;
      },
      10_000,
    );
    expect(deliveries.map((d: any) => `${d.event} ${d.targetType}`).sort()).toEqual([
      'export.failed SLACK',
      'export.failed WEBHOOK',
      'export.recovered SLACK',
      'export.recovered WEBHOOK',
    ]);
    expect(deliveries.every((d: any) => !d.url.includes('hook-pass'))).toBe(true);

    // The target's secret and the URL's password never reach a log line (the app logs at trace here).
    expect(service.t.logs.length).toBeGreaterThan(0);
    expect(service.t.logs.join('\n')).not.toMatch(new RegExp(`${SECRET}|hook-pass`));

    // Export runs wrote the bookkeeping without touching what only people change.
    const [after] = await db.query<{ updated_at: Date; version: number }>('SELECT updated_at, version FROM export_configurations WHERE id = $1', [id]);
    expect(after).toEqual({ updated_at: updatedAt, version });
  });
});

describe('a configuration that keeps failing past EXPORT_AUTO_DISABLE_AFTER_MS', () => {
  let service: FaultService;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    // Failures at about 0, 1, 3 and 7 s (backoff doubling from 1 s): the warning at half of the
    // 4 s period, the disable past it.
    service = await startFaultService({ env: { ...FAST, EXPORT_AUTO_DISABLE_AFTER_MS: '4000' }, runOptions: { maxTaskAttempts: 1, requestMaxAttempts: 1 } });
  });
  afterAll(async () => {
    await service?.close();
    await receiver?.close();
  });

  it('is warned about, then disabled with its reason, and says so', async () => {
    const { db } = service.t;
    const id = await createWithTargets(service, receiver.url);
    const before = createExportQueue({ redisUrl: service.redisUrl, prefix: service.prefix });
    expect(await before.getJobScheduler(schedulerIdFor(id))).toBeTruthy();
    await before.close();
    await ingestEvents(db.prisma, 20);
    service.harness.sandbox.setFaults({ s3FailureRatio: 1, status: 403, code: 'AccessDenied' });
    expect((await service.gql(RUN, { id })).errors).toBeUndefined();

    const disabled = await eventually(
      'the export.disabled notification',
      async () => receiver.received.find((r) => r.path === '/hook' && r.body.event === 'export.disabled'),
      60_000,
    );
    expectSigned(disabled, SECRET);
    const events = receiver.received.filter((r) => r.path === '/hook').map((r) => r.body.event);
    expect(events).toEqual(['export.failed', 'export.disabling', 'export.disabled']);

    const configuration = (await service.gql(CONFIGURATION, { id })).data.getExportConfiguration;
    expect(configuration).toMatchObject({
      enabled: false,
      nextRunAt: null,
      disabledReason: expect.stringMatching(/^Disabled automatically .*every export failed for .*(AccessDenied|Access Denied)/),
    });
    const status = (await service.gql(STATUSES)).data.getExportConfigurationStatuses.find((s: { id: string }) => s.id === id);
    expect(status).toMatchObject({ enabled: false, disabledReason: configuration.disabledReason });
    // The job scheduler was removed (best effort through the schedule port).
    const queue = createExportQueue({ redisUrl: service.redisUrl, prefix: service.prefix });
    try {
      expect(await queue.getJobScheduler(schedulerIdFor(id))).toBeFalsy();
    } finally {
      await queue.close();
    }

    // No further run happens for it: the failure count stays.
    const [{ consecutive_failures: count }] = await db.query<{ consecutive_failures: number }>('SELECT consecutive_failures FROM export_configurations WHERE id = $1', [id]);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const [{ consecutive_failures: later }] = await db.query<{ consecutive_failures: number }>('SELECT consecutive_failures FROM export_configurations WHERE id = $1', [id]);
    expect(later).toBe(count);

    // Enabling it again (a person's change) clears the reason.
    const enabled = await service.gql(`mutation($id: String!) { enableExportConfiguration(id: $id) { id enabled disabledReason } }`, { id });
    expect(enabled.errors).toBeUndefined();
    expect(enabled.data.enableExportConfiguration).toMatchObject({ enabled: true, disabledReason: null });
  });
});
