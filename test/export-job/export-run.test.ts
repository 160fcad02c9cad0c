import { Pool } from 'pg';
import type { AwsCredentials, CredentialSource } from '../../src/aws/aws-client.factory';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { ExportRunService, type ExportAwsClients } from '../../src/export-job/export-run.service';
import { createTestDatabase, type TestDatabase } from '../support/database';
import {
  createAccessKeyConfiguration,
  createAssumedRoleConfiguration,
  exportedIdsInJobOrder,
  ingestEvents,
  readExports,
  startExportHarness,
  type ExportHarness,
  exportRunServiceFor,
} from './export-fixtures';

jest.setTimeout(120_000);

describe('export run (PostgreSQL → gzip NDJSON → sandbox S3)', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  let pool: Pool;
  let repository: ExportJobRepository;

  function runService(options: { maxEventsPerTask: number; aws?: ExportAwsClients }): ExportRunService {
    return exportRunServiceFor(db.prisma, repository, harness, { retryBaseDelayMs: 20, retryMaxDelayMs: 200, maxEventsPerTask: options.maxEventsPerTask }, { aws: options.aws });
  }

  const cursorOf = async (id: string) => (await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id } })).cursor;

  beforeAll(async () => {
    db = await createTestDatabase();
    harness = await startExportHarness();
    pool = new Pool({ connectionString: db.url, max: 6 });
    repository = new ExportJobRepository(db.prisma, pool);
  });
  afterAll(async () => {
    await pool.end();
    await harness.stop();
    await db.drop();
  });
  beforeEach(async () => {
    harness.sandbox.setFaults(null);
    await db.query('TRUNCATE audit_events, export_jobs, export_job_tasks');
    await db.query('DELETE FROM export_configurations');
  });

  it('exports 10,000 events exactly once, in ingestion order; a second run writes nothing again', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    const ids = await ingestEvents(db.prisma, 10_000);
    const runs = runService({ maxEventsPerTask: 3_000 });

    const first = await runs.run(configurationId, 'MANUAL');
    expect(first).toEqual({ status: 'succeeded', jobIds: [expect.any(String)], eventCount: 10_000 });

    const prefix = `exports/${configurationId.slice(0, 8)}/`;
    const objects = await readExports(harness.sandbox, prefix);
    expect(objects).toHaveLength(4);
    // Keys: <path>/<yyyy>/<mm>/<dd>/<jobId>-<offset>.ndjson.gz, in event order when sorted.
    const today = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    expect(objects[0].key).toBe(`${prefix}${today}/${first.status === 'succeeded' ? first.jobIds[0] : ''}-0000000000.ndjson.gz`);
    const exported = objects.flatMap((object) => object.events.map((event) => event.id));
    expect(exported).toEqual(ids);
    // Every line is the whole stored UAM event, receivedTimestamp included.
    expect(objects[0].events[0]).toMatchObject({ id: ids[0], action: 'QUERY', actionStatus: 'SUCCESS', receivedTimestamp: expect.any(String) });

    const tasks = await db.prisma.exportJobTask.findMany({ orderBy: { offset: 'asc' } });
    expect(tasks.map((task) => [task.offset, task.limit, task.status, task.eventCount, task.attempts])).toEqual([
      [0, 3000, 'SUCCEEDED', 3000, 1],
      [3000, 3000, 'SUCCEEDED', 3000, 1],
      [6000, 3000, 'SUCCEEDED', 3000, 1],
      [9000, 1000, 'SUCCEEDED', 1000, 1],
    ]);
    const [maxSequence] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
    expect((await cursorOf(configurationId)).toString()).toBe(maxSequence.max);

    const putsBefore = harness.sandbox.requests.filter((request) => request.operation === 'PutObject').length;
    await expect(runs.run(configurationId, 'SCHEDULED')).resolves.toEqual({ status: 'nothing-to-export' });
    expect(harness.sandbox.requests.filter((request) => request.operation === 'PutObject').length).toBe(putsBefore);

    // Something new: only that goes out.
    const more = await ingestEvents(db.prisma, 5, 10_000);
    await expect(runs.run(configurationId, 'SCHEDULED')).resolves.toMatchObject({ status: 'succeeded', eventCount: 5 });
    const all = await exportedIdsInJobOrder(db.prisma, harness.sandbox, prefix);
    expect(all).toEqual([...ids, ...more]);
    expect(new Set(all).size).toBe(all.length);
  });

  it('puts events ingested while a run is in progress into the next run, not lost', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    const before = await ingestEvents(db.prisma, 2_000);
    const during: string[] = [];
    let ingesting: Promise<void> | undefined;
    // The first credential request happens inside the first task's upload, i.e. after planning:
    // ingest there, and keep ingesting concurrently while the run goes on.
    const aws: ExportAwsClients = {
      credentialsFor: async (source: CredentialSource): Promise<AwsCredentials> => {
        ingesting ??= (async () => {
          for (let batch = 0; batch < 5; batch += 1) during.push(...(await ingestEvents(db.prisma, 100, 100_000 + batch * 100)));
        })();
        if (during.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
        return harness.awsClients.credentialsFor(source);
      },
      createS3Client: (region, credentials, options) => harness.awsClients.createS3Client(region, credentials, options),
    };
    const runs = runService({ maxEventsPerTask: 500, aws });
    await expect(runs.run(configurationId, 'SCHEDULED')).resolves.toMatchObject({ status: 'succeeded', eventCount: 2_000 });
    await ingesting;
    expect(during).toHaveLength(500);

    await expect(runService({ maxEventsPerTask: 500 }).run(configurationId, 'SCHEDULED')).resolves.toMatchObject({ status: 'succeeded', eventCount: 500 });
    const exported = await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`);
    expect(exported).toEqual([...before, ...during]);
  });

  it('completes while the sandbox fails a third of S3 requests with 503, and counts the retries in attempts', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    const ids = await ingestEvents(db.prisma, 3_000);
    harness.sandbox.setFaults({ s3FailureRatio: 1 / 3, status: 503 });
    await expect(runService({ maxEventsPerTask: 500 }).run(configurationId, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded', eventCount: 3_000 });
    harness.sandbox.setFaults(null);

    // The tasks' own requests (the job's digest is written after them, with retries of its own).
    const failed = harness.sandbox.requests.filter((request) => request.status === 503 && request.key?.endsWith('.ndjson.gz'));
    expect(failed.length).toBeGreaterThanOrEqual(2);
    const tasks = await db.prisma.exportJobTask.findMany({ orderBy: { offset: 'asc' } });
    expect(tasks).toHaveLength(6);
    expect(tasks.every((task) => task.status === 'SUCCEEDED')).toBe(true);
    // Each 503 was retried once more: the attempts above one add up to the injected failures.
    const retries = tasks.reduce((sum, task) => sum + task.attempts - 1, 0);
    expect(retries).toBe(failed.length);
    expect(tasks.some((task) => task.attempts > 1)).toBe(true);
    const exported = await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`);
    expect(exported).toEqual(ids);
  });

  it('fails the task, the job and the connection status on AccessDenied, then resumes from the same cursor', async () => {
    // `exporter` may not write into audit-exports.
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { bucket: 'audit-exports' });
    const ids = await ingestEvents(db.prisma, 1_200);
    const runs = runService({ maxEventsPerTask: 500 });
    const outcome = await runs.run(configurationId, 'SCHEDULED');
    expect(outcome).toMatchObject({ status: 'failed', reason: expect.stringMatching(/AccessDenied|not authorized|denied/i) });

    const job = await db.prisma.exportJob.findFirstOrThrow({ include: { tasks: { orderBy: { offset: 'asc' } } } });
    expect(job.status).toBe('FAILED');
    expect(job.failureReason).toMatch(/Task at offset 0 failed/);
    expect(job.tasks.map((task) => [task.status, task.attempts])).toEqual([
      ['FAILED', 1],
      ['PENDING', 0],
      ['PENDING', 0],
    ]);
    expect(job.tasks[0].failureReason).toMatch(/denied|not authorized/i);
    const configuration = await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } });
    expect(configuration.connectionStatus).toMatch(new RegExp(`^Error testing access to S3 using AccessKey ${harness.sandbox.user('exporter').accessKeyId} - `));
    expect(configuration.cursor).toBe(0n);

    expect(job).toMatchObject({ failureCount: 1, lastFailureReason: job.failureReason, bucket: 'audit-exports' });
    expect(job.nextRetryAt!.getTime()).toBeGreaterThan(Date.now());

    // The admin fixes the bucket. The unfinished job's keys were fixed for audit-exports, so it is
    // closed as superseded (never resumed) and a new job delivers every event to the new bucket.
    await db.prisma.exportConfiguration.update({ where: { id: configurationId }, data: { bucket: 'your-s3-bucket' } });
    const rerun = await runs.run(configurationId, 'SCHEDULED');
    expect(rerun).toMatchObject({ status: 'succeeded', eventCount: 1_200 });
    const superseded = await db.prisma.exportJob.findUniqueOrThrow({ where: { id: job.id }, include: { tasks: { orderBy: { offset: 'asc' } } } });
    expect(superseded.status).toBe('SUPERSEDED');
    expect(superseded.failureReason).toMatch(/destination changed from s3:\/\/audit-exports\/.* to s3:\/\/your-s3-bucket\//);
    expect(superseded.tasks.map((task) => task.status)).toEqual(['SUPERSEDED', 'SUPERSEDED', 'SUPERSEDED']);
    expect(rerun.status === 'succeeded' && rerun.jobIds).toEqual([expect.not.stringMatching(job.id)]);
    expect((await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } })).connectionStatus).toBe('SUCCESS');
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });

  it('resumes a job that failed for good from the same cursor and keys once the cause is fixed, and keeps its failure in the history', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    const ids = await ingestEvents(db.prisma, 1_200);
    const runs = runService({ maxEventsPerTask: 500 });
    // The bucket refuses every write (a policy removed by mistake), then the admin restores it.
    harness.sandbox.setFaults({ s3FailureRatio: 1, status: 403, code: 'AccessDenied' });
    await expect(runs.run(configurationId, 'SCHEDULED')).resolves.toMatchObject({ status: 'failed' });
    harness.sandbox.setFaults(null);
    const job = await db.prisma.exportJob.findFirstOrThrow({ where: { configurationId } });
    expect(job).toMatchObject({ status: 'FAILED', attempts: 1, failureCount: 1 });

    await expect(runs.run(configurationId, 'SCHEDULED')).resolves.toEqual({ status: 'succeeded', jobIds: [job.id], eventCount: 1_200 });
    const resumed = await db.prisma.exportJob.findUniqueOrThrow({ where: { id: job.id }, include: { tasks: { orderBy: { offset: 'asc' } } } });
    expect(resumed).toMatchObject({ status: 'SUCCEEDED', failureReason: null, attempts: 2, failureCount: 1, lastFailureReason: job.failureReason, nextRetryAt: null });
    expect(resumed.lastFailedAt).toEqual(job.lastFailedAt);
    expect(resumed.tasks.map((task) => [task.status, task.attempts])).toEqual([
      ['SUCCEEDED', 2],
      ['SUCCEEDED', 1],
      ['SUCCEEDED', 1],
    ]);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });

  it('sends a task larger than a part as a multipart upload; a refused upload fails the task without hanging, and the next run completes it', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    // About 8 MB of gzip in one task: two 5 MB parts.
    const ids = await ingestEvents(db.prisma, 2_000, 0, 4_000);
    const runs = runService({ maxEventsPerTask: 10_000 });

    // Every S3 request refused: the writer fails at CreateMultipartUpload with gzip's output still
    // unread, while the rows keep coming. Both sides must stop and the run report the refusal.
    harness.sandbox.setFaults({ s3FailureRatio: 1, status: 403, code: 'AccessDenied' });
    await expect(runs.run(configurationId, 'SCHEDULED')).resolves.toMatchObject({ status: 'failed', reason: expect.stringMatching(/AccessDenied|denied/i) });
    harness.sandbox.setFaults(null);
    const [task] = await db.prisma.exportJobTask.findMany();
    expect(task).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(await readExports(harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual([]);

    await expect(runs.run(configurationId, 'SCHEDULED')).resolves.toMatchObject({ status: 'succeeded', eventCount: 2_000 });
    const writes = harness.sandbox.requests.filter((request) => request.key === task.objectKey && request.status === 200).map((request) => request.operation);
    expect(writes).toEqual(['CreateMultipartUpload', 'UploadPart', 'UploadPart', 'CompleteMultipartUpload']);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });

  it('assumes the role with the configuration id as External ID and gets new credentials when they expire mid-run', async () => {
    const configurationId = await createAssumedRoleConfiguration(db.prisma, harness);
    const ids = await ingestEvents(db.prisma, 1_500);
    let clients = 0;
    const aws: ExportAwsClients = {
      credentialsFor: (source) => harness.awsClients.credentialsFor(source),
      createS3Client: (region, credentials, options) => {
        clients += 1;
        // Before the second task: an hour passes for the sandbox; the first session has expired.
        if (clients === 2) harness.sandbox.advanceClock(3_600_000);
        return harness.awsClients.createS3Client(region, credentials, options);
      },
    };
    const assumeRolesBefore = harness.sandbox.requests.filter((request) => request.operation === 'AssumeRole').length;
    await expect(runService({ maxEventsPerTask: 500, aws }).run(configurationId, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded', eventCount: 1_500 });

    const requests = harness.sandbox.requests;
    expect(requests.filter((request) => request.operation === 'AssumeRole').length - assumeRolesBefore).toBe(2);
    expect(requests.some((request) => request.errorCode === 'ExpiredToken')).toBe(true);
    const puts = requests.filter((request) => request.operation === 'PutObject' && request.status === 200 && request.key?.startsWith('roles/'));
    // Three objects, then the job's digest, all with the assumed role's credentials.
    expect(puts.map((request) => (request.key!.includes('/_digest/') ? 'digest' : 'object'))).toEqual(['object', 'object', 'object', 'digest']);
    expect(puts.every((request) => request.principalArn?.includes('assumed-role/immuta-export/'))).toBe(true);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `roles/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });

  it('lets only one run of a configuration at a time', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    const ids = await ingestEvents(db.prisma, 3_000);
    const outcomes = await Promise.all([
      runService({ maxEventsPerTask: 500 }).run(configurationId, 'MANUAL'),
      runService({ maxEventsPerTask: 500 }).run(configurationId, 'MANUAL'),
    ]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['skipped', 'succeeded']);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });
});
