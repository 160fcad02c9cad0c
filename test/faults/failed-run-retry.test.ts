import { createAccessKeyConfiguration, exportedIdsInJobOrder, ingestEvents } from '../export-job/export-fixtures';
import { trustPolicyFor } from '../sandbox/sandbox.fixture';
import { eventually, startFaultService, storedEventIds, type FaultService } from './fault.fixture';

jest.setTimeout(120_000);

const JOBS = `query($id: String!) { getAllExportJobs(exportConfigurationId: $id) { id status attempts failureCount failureReason lastFailureReason lastFailedAt nextRetryAt } }`;

describe('a run that failed because the trust policy was missing', () => {
  let service: FaultService;

  beforeAll(async () => {
    // The retry backoff alone would wait ten minutes: only the recovered connection can bring the
    // retry forward within this test.
    service = await startFaultService({ env: { HEALTH_CHECK_PERIOD_MS: '500', HEALTH_CHECK_MAX_BACKOFF_MS: '1000', EXPORT_RETRY_BASE_DELAY_MS: '600000' } });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('is retried within moments of the policy being fixed, and its history shows the failed attempt', async () => {
    const { db } = service.t;
    const { sandbox } = service.harness;
    await ingestEvents(db.prisma, 500);
    const roleArn = sandbox.role('immuta-export').arn;
    const created = await service.gql(`mutation($data: S3AssumedRoleExportConfigurationInput!) { createS3AssumedRoleExportConfiguration(data: $data) { id connectionStatus } }`, {
      data: { interval: 'EVERY_24_HOURS', bucket: 'your-s3-bucket', path: 'trust-fixed', region: sandbox.region, roleArn },
    });
    expect(created.errors).toBeUndefined();
    const id = created.data.createS3AssumedRoleExportConfiguration.id as string;
    expect(created.data.createS3AssumedRoleExportConfiguration.connectionStatus).toMatch(/not authorized to perform: sts:AssumeRole/);

    // The new configuration's first export runs at once and fails: the role cannot be assumed yet.
    const failed = await eventually(
      'the first export to fail',
      async () => {
        const jobs = (await service.gql(JOBS, { id })).data.getAllExportJobs;
        return jobs.length === 1 && jobs[0].status === 'FAILED' ? jobs[0] : undefined;
      },
      30_000,
    );
    expect(failed).toMatchObject({ attempts: 1, failureCount: 1, lastFailureReason: expect.stringMatching(/AssumeRole|not authorized/) });
    expect(Date.parse(failed.nextRetryAt) - Date.now()).toBeGreaterThan(60_000);

    // The admin fixes the trust policy; the background health check notices within its period,
    // and the failed export is retried at once instead of at its backoff.
    const fixedAt = Date.now();
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, id));
    const succeeded = await eventually(
      'the retried export to succeed',
      async () => {
        const jobs = (await service.gql(JOBS, { id })).data.getAllExportJobs;
        return jobs.length === 1 && jobs[0].status === 'SUCCEEDED' ? jobs[0] : undefined;
      },
      30_000,
    );
    expect(Date.now() - fixedAt).toBeLessThan(30_000);
    // The history keeps the failure.
    expect(succeeded).toMatchObject({
      id: failed.id,
      attempts: 2,
      failureCount: 1,
      failureReason: null,
      lastFailureReason: failed.lastFailureReason,
      lastFailedAt: failed.lastFailedAt,
      nextRetryAt: null,
    });
    // Everything stored when the job was planned (the ingested events, and the service's own audit events before the create).
    const [{ to }] = await db.query<{ to: string }>('SELECT to_sequence::text AS to FROM export_jobs WHERE id = $1', [failed.id]);
    const planned = (await db.query<{ id: string }>('SELECT id::text FROM audit_events WHERE sequence <= $1 ORDER BY sequence', [to])).map((row) => row.id);
    expect(await exportedIdsInJobOrder(db.prisma, sandbox, 'trust-fixed/')).toEqual(planned);
  });
});

describe('a run that failed on a passing S3 outage', () => {
  let service: FaultService;

  beforeAll(async () => {
    // One try per task, and the health check out of the way: only the job retry's backoff can
    // bring the export back.
    // The reconcile loop is slowed down too, so it creates no scheduler (and no scheduled run) here.
    service = await startFaultService({
      env: { EXPORT_RETRY_BASE_DELAY_MS: '1000', HEALTH_CHECK_PERIOD_MS: '3600000', SCHEDULE_RECONCILE_PERIOD_MS: '3600000' },
      runOptions: { maxTaskAttempts: 1, requestMaxAttempts: 1 },
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('is retried with backoff inside the interval until the bucket answers again', async () => {
    const { db } = service.t;
    const { sandbox } = service.harness;
    // Enabled (retries follow the schedule's rules), with no scheduler in Redis yet.
    const configurationId = await createAccessKeyConfiguration(db.prisma, service.harness, { interval: 'EVERY_24_HOURS' });
    await ingestEvents(db.prisma, 300);
    const ids = await storedEventIds(db);
    sandbox.setFaults({ s3FailureRatio: 1, status: 503 });
    expect((await service.gql(`mutation($id: String!) { runExportConfiguration(id: $id) { id } }`, { id: configurationId })).errors).toBeUndefined();

    // Failed, then retried on its own after 1 s and failed again: the backoff doubles.
    await eventually(
      'two failed tries',
      async () => {
        const [job] = await db.query<{ failure_count: number }>('SELECT failure_count FROM export_jobs WHERE configuration_id = $1', [configurationId]);
        return job && job.failure_count >= 2 ? true : undefined;
      },
      30_000,
    );
    const [before] = await db.query<{ next_retry_at: Date; last_failed_at: Date; failure_count: number }>(
      'SELECT next_retry_at, last_failed_at, failure_count FROM export_jobs WHERE configuration_id = $1',
      [configurationId],
    );
    expect(before.next_retry_at.getTime() - before.last_failed_at.getTime()).toBe(1000 * 2 ** (before.failure_count - 1));

    sandbox.setFaults(null);
    await eventually(
      'the export to succeed without anyone asking',
      async () => {
        const [job] = await db.query<{ status: string }>('SELECT status::text FROM export_jobs WHERE configuration_id = $1', [configurationId]);
        return job.status === 'SUCCEEDED' ? true : undefined;
      },
      30_000,
    );
    const [job] = await db.query<{ attempts: number; failure_count: number; next_retry_at: Date | null }>(
      'SELECT attempts, failure_count, next_retry_at FROM export_jobs WHERE configuration_id = $1',
      [configurationId],
    );
    expect(job.failure_count).toBeGreaterThanOrEqual(2);
    expect(job.attempts).toBe(job.failure_count + 1);
    expect(job.next_retry_at).toBeNull();
    expect(await exportedIdsInJobOrder(db.prisma, sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });
});
