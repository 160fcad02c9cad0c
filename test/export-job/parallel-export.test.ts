import { Pool } from 'pg';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { ExportRunService } from '../../src/export-job/export-run.service';
import { DEFAULT_UPLOADER_OPTIONS } from '../../src/export-job/export-task.uploader';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createAccessKeyConfiguration, exportedIdsInJobOrder, ingestEvents, readExports, startExportHarness, type ExportHarness, exportRunServiceFor } from './export-fixtures';

jest.setTimeout(180_000);

/** Issue #11: the tasks of one job upload at the same time within one worker (EXPORT_TASK_CONCURRENCY). */
describe('parallel export within one worker', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  let pool: Pool;
  let repository: ExportJobRepository;

  function runService(taskConcurrency: number, maxEventsPerTask: number): ExportRunService {
    return exportRunServiceFor(
      db.prisma,
      repository,
      harness,
      { retryBaseDelayMs: 20, retryMaxDelayMs: 200, maxEventsPerTask, taskConcurrency },
      { uploader: { ...DEFAULT_UPLOADER_OPTIONS, concurrentTasks: taskConcurrency } },
    );
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    harness = await startExportHarness();
    // A lock session, and a claim and a stream per running task.
    pool = new Pool({ connectionString: db.url, max: 12 });
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

  /** For each object key of the job, where its multipart upload starts and ends in the sandbox's request log. */
  function uploadSpans(keys: string[]): Array<{ key: string; first: number; last: number }> {
    const log = harness.sandbox.requests;
    return keys.map((key) => {
      const indexes = log.flatMap((request, index) => (request.key === key && request.status === 200 ? [index] : []));
      return { key, first: indexes[0], last: indexes[indexes.length - 1] };
    });
  }

  it('uploads several tasks of one job at the same time (their requests interleave) and delivers every event exactly once', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { integrityValidation: true });
    // Four tasks of about 8 MB of gzip each: multipart uploads of two parts, whose requests show in
    // the log whether one task's upload was still open when another's began.
    const ids = await ingestEvents(db.prisma, 8_000, 0, 4_000);
    const before = harness.sandbox.requests.length;
    const outcome = await runService(3, 2_000).run(configurationId, 'MANUAL');
    expect(outcome).toMatchObject({ status: 'succeeded', eventCount: 8_000 });

    const tasks = await db.prisma.exportJobTask.findMany({ orderBy: { offset: 'asc' } });
    expect(tasks.map((task) => [task.status, task.eventCount])).toEqual(Array.from({ length: 4 }, () => ['SUCCEEDED', 2_000]));
    const spans = uploadSpans(tasks.map((task) => task.objectKey));
    for (const span of spans) expect(span.first).toBeGreaterThanOrEqual(before);
    // Overlap: some task's upload began before another one's ended.
    const overlapping = spans.filter((span) => spans.some((other) => other !== span && other.first < span.last && span.first < other.last));
    expect(overlapping.length).toBeGreaterThanOrEqual(2);
    for (const span of spans) {
      const operations = harness.sandbox.requests.filter((request) => request.key === span.key && request.status === 200).map((request) => request.operation);
      expect(operations).toEqual(['CreateMultipartUpload', 'UploadPart', 'UploadPart', 'CompleteMultipartUpload']);
    }

    // The digest is written after every object: its request comes after the last object's.
    const digestIndex = harness.sandbox.requests.findIndex((request, index) => index >= before && request.operation === 'PutObject' && /digest/i.test(request.key ?? ''));
    expect(digestIndex).toBeGreaterThan(Math.max(...spans.map((span) => span.last)));
    expect((await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } })).cursor.toString()).toBe(
      (await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events'))[0].max,
    );
    const exported = await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`);
    expect(exported).toEqual(ids);
  });

  it('with one task failing for good, lets the others finish, fails the job once, and the next run delivers exactly what is missing', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    const ids = await ingestEvents(db.prisma, 3_000);
    const runs = runService(3, 500);
    // Every fourth S3 request refused for good: the job fails, some of its tasks go through.
    const firstRequest = harness.sandbox.requests.length;
    harness.sandbox.setFaults({ s3FailureRatio: 0.25, status: 403, code: 'AccessDenied' });
    const failed = await runs.run(configurationId, 'SCHEDULED');
    harness.sandbox.setFaults(null);
    const refusedKeys = harness.sandbox.requests
      .slice(firstRequest)
      .filter((request) => request.status === 403)
      .map((request) => request.key);
    expect(failed).toMatchObject({ status: 'failed', reason: expect.stringMatching(/AccessDenied|denied/i) });
    const job = await db.prisma.exportJob.findFirstOrThrow({ where: { configurationId }, include: { tasks: true } });
    expect(job).toMatchObject({ status: 'FAILED', failureCount: 1 });
    // Nothing is left claimed or running: each task is where its own try left it.
    expect(job.tasks.every((task) => ['SUCCEEDED', 'FAILED', 'PENDING'].includes(task.status))).toBe(true);
    // The refusals hit whichever requests the concurrent tasks happened to send fourth, eighth, ...
    // (a task's object, or only the digest written once all tasks were done): at least one was
    // refused, and no task is FAILED but for a refusal of its own object.
    expect(refusedKeys.length).toBeGreaterThan(0);
    expect(job.tasks.filter((task) => task.status === 'FAILED').every((task) => refusedKeys.includes(task.objectKey))).toBe(true);
    expect((await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } })).cursor).toBe(0n);

    const delivered = job.tasks.filter((task) => task.status === 'SUCCEEDED').map((task) => task.objectKey);
    const before = harness.sandbox.requests.length;
    await expect(runs.run(configurationId, 'SCHEDULED')).resolves.toMatchObject({ status: 'succeeded', eventCount: 3_000 });
    // The retry wrote only the objects not delivered before.
    const rewritten = harness.sandbox.requests
      .slice(before)
      .filter((request) => request.operation === 'PutObject' && request.status === 200)
      .map((request) => request.key);
    expect(rewritten.filter((key) => delivered.includes(key!))).toEqual([]);
    expect(await readExports(harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toHaveLength(6);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });
});
