import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { Pool } from 'pg';
import { createAccessKeyConfiguration, exportedIdsInJobOrder, ingestEvents, readExports, exportRunServiceFor } from '../export-job/export-fixtures';
import { eventually, startFaultService, storedEventIds, type FaultService } from './fault.fixture';

jest.setTimeout(120_000);

const UPDATE = `mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { id connectionStatus endpointConfiguration { ... on S3AccessKeyEndpointConfiguration { path } } } }`;
const RUN = `mutation($id: String!) { runExportConfiguration(id: $id) { id } }`;

describe('configuration changes and jobs that can never complete', () => {
  let service: FaultService;

  beforeAll(async () => {
    service = await startFaultService({ env: { EXPORT_TASK_MAX_EVENTS: '100', EXPORT_RETRY_BASE_DELAY_MS: '600000' }, runOptions: { maxTaskAttempts: 1, requestMaxAttempts: 1 } });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('re-plans an unfinished job for the new path: every event ends up exactly once under it', async () => {
    const { db } = service.t;
    const { sandbox } = service.harness;
    const configurationId = await createAccessKeyConfiguration(db.prisma, service.harness, { enabled: false, path: 'before-change' });
    await ingestEvents(db.prisma, 5_000);

    // The run delivers a few of its 50 objects, then the bucket starts refusing every write.
    expect((await service.gql(RUN, { id: configurationId })).errors).toBeUndefined();
    await eventually(
      'some objects under the old path',
      async () => {
        const [row] = await db.query<{ succeeded: number }>(`SELECT count(*)::int AS succeeded FROM export_job_tasks WHERE status = 'SUCCEEDED'`);
        return row.succeeded >= 2 ? true : undefined;
      },
      60_000,
      2,
    );
    sandbox.setFaults({ s3FailureRatio: 1, status: 403, code: 'AccessDenied' });
    const failed = await eventually(
      'the job to fail',
      async () => {
        const [job] = await db.query<{ id: string; status: string }>('SELECT id, status::text FROM export_jobs WHERE configuration_id = $1', [configurationId]);
        return job?.status === 'FAILED' ? job : undefined;
      },
      60_000,
    );
    const [{ delivered }] = await db.query<{ delivered: number }>(`SELECT count(*)::int AS delivered FROM export_job_tasks WHERE job_id = $1 AND status = 'SUCCEEDED'`, [
      failed.id,
    ]);
    expect(delivered).toBeGreaterThan(0);
    expect(delivered).toBeLessThan(50);
    sandbox.setFaults(null);

    // The admin moves the exports to another path while that job is unfinished.
    const updated = await service.gql(UPDATE, { data: { id: configurationId, path: 'after-change' } });
    expect(updated.errors).toBeUndefined();
    expect(updated.data.updateS3AccessKeyExportConfiguration).toMatchObject({ connectionStatus: 'SUCCESS', endpointConfiguration: { path: 'after-change' } });
    expect((await service.gql(RUN, { id: configurationId })).errors).toBeUndefined();

    const [{ max }] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
    await eventually(
      'the re-planned job to deliver everything',
      async () => {
        const [row] = await db.query<{ cursor: string }>('SELECT cursor::text FROM export_configurations WHERE id = $1', [configurationId]);
        return row.cursor === max ? true : undefined;
      },
      60_000,
    );
    const jobs = await db.query<{ id: string; status: string; path: string; failure_reason: string | null }>(
      'SELECT id, status::text, path, failure_reason FROM export_jobs WHERE configuration_id = $1 ORDER BY created_at',
      [configurationId],
    );
    expect(jobs.map((job) => [job.status, job.path])).toEqual([
      ['SUPERSEDED', 'before-change'],
      ['SUCCEEDED', 'after-change'],
    ]);
    expect(jobs[0].failure_reason).toMatch(/destination changed from s3:\/\/your-s3-bucket\/before-change\/ to s3:\/\/your-s3-bucket\/after-change\//);

    // Under the new path: every event, exactly once, in ingestion order (with the service's own
    // audit events: the API key, the update, exported like the others).
    const ids = await storedEventIds(db);
    const after = (await readExports(sandbox, 'after-change/')).flatMap((object) => object.events.map((event) => event.id as string));
    expect(after).toHaveLength(ids.length);
    expect(new Set(after).size).toBe(ids.length);
    expect(await exportedIdsInJobOrder(db.prisma, sandbox, 'after-change/')).toEqual(ids);
    // What the superseded job had delivered stays at the old path (documented), nothing more: whole
    // tasks, each an unbroken run of the stored events in order. Not a prefix of them: the job's
    // tasks run in parallel, so the ones done before the failure need not be the first ones.
    const beforeObjects = await readExports(sandbox, 'before-change/');
    const before = beforeObjects.flatMap((object) => object.events.map((event) => event.id as string));
    expect(new Set(before).size).toBe(before.length);
    expect(before.length).toBeGreaterThanOrEqual(delivered * 100 - 100);
    for (const object of beforeObjects) {
      const objectIds = object.events.map((event) => event.id as string);
      const start = ids.indexOf(objectIds[0]);
      expect(start).toBeGreaterThanOrEqual(0);
      expect(ids.slice(start, start + objectIds.length)).toEqual(objectIds);
    }
  });

  it('plans one job when two runs are not kept apart, and closes a job whose cursor guard fails instead of blocking the configuration', async () => {
    const { db } = service.t;
    const configurationId = await createAccessKeyConfiguration(db.prisma, service.harness, { enabled: false, path: 'guards' });
    await db.query('UPDATE export_configurations SET cursor = (SELECT max(sequence) FROM audit_events) WHERE id = $1', [configurationId]);
    const ids = await ingestEvents(db.prisma, 300, 50_000);

    // Two planners at once on the same cursor, past any advisory lock (as behind a
    // transaction-pooling proxy): the configuration row lock and the unique index let one plan.
    const pool = new Pool({ connectionString: db.url, max: 4 });
    const repository = new ExportJobRepository(db.prisma, pool);
    const plan = () =>
      repository.planJob({
        configurationId,
        trigger: 'MANUAL',
        bucket: 'your-s3-bucket',
        path: 'guards',
        maxEventsPerTask: 100,
        startedAt: new Date(),
        objectKey: (job, offset) => `guards/${job.id}-${offset}`,
      });
    const planned = await Promise.all([plan(), plan(), plan()]);
    expect(planned.filter((job) => job !== null)).toHaveLength(1);
    expect(await db.query(`SELECT id FROM export_jobs WHERE configuration_id = $1`, [configurationId])).toHaveLength(1);

    // Someone moves the cursor under the unfinished job: it can never complete. The run closes it
    // as superseded before it delivers anything, and plans from where the cursor now is, rather
    // than fail forever.
    const [{ moved }] = await db.query<{ moved: string }>('SELECT (cursor + 100)::text AS moved FROM export_configurations WHERE id = $1', [configurationId]);
    await db.query('UPDATE export_configurations SET cursor = $2 WHERE id = $1', [configurationId, moved]);
    const runs = exportRunServiceFor(db.prisma, repository, service.harness, { maxEventsPerTask: 100 });
    const first = await runs.run(configurationId, 'MANUAL');
    expect(first).toMatchObject({ status: 'succeeded', eventCount: 200 });
    const jobs = await db.query<{ status: string; failure_reason: string | null }>(
      'SELECT status::text, failure_reason FROM export_jobs WHERE configuration_id = $1 ORDER BY created_at',
      [configurationId],
    );
    expect(jobs.map((job) => job.status)).toEqual(['SUPERSEDED', 'SUCCEEDED']);
    expect(jobs[0].failure_reason).toMatch(/cursor is no longer at sequence/);
    // The next run finds nothing: the configuration is not blocked and nothing is sent twice.
    expect(await runs.run(configurationId, 'MANUAL')).toEqual({ status: 'nothing-to-export' });
    const delivered = (await readExports(service.harness.sandbox, 'guards/')).flatMap((object) => object.events.map((event) => event.id as string));
    expect(delivered).toEqual(ids.slice(100));
    await pool.end();
  });
});
