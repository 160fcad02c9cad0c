import { createAccessKeyConfiguration, exportedIdsInJobOrder, ingestEvents, readExports } from '../export-job/export-fixtures';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { eventually, startFaultService, storedEventIds, type FaultService } from './fault.fixture';

jest.setTimeout(120_000);

const RUN = `mutation($id: String!) { runExportConfiguration(id: $id) { id runRequestedAt runInProgress } }`;

describe('runExportConfiguration while a run is in progress', () => {
  let service: FaultService;

  beforeAll(async () => {
    service = await startFaultService({ env: { EXPORT_TASK_MAX_EVENTS: '100' } });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('delivers the events ingested meanwhile right after that run, without waiting for the schedule', async () => {
    const { db } = service.t;
    // Disabled: no scheduler exists, so only the requested runs can deliver anything.
    const configurationId = await createAccessKeyConfiguration(db.prisma, service.harness, { enabled: false });
    await ingestEvents(db.prisma, 6_000);
    // With the service's own audit events (the API key), exported like the others.
    const first = await storedEventIds(db);

    const started = await service.gql(RUN, { id: configurationId });
    expect(started.errors).toBeUndefined();
    expect(started.data.runExportConfiguration.runRequestedAt).toEqual(expect.any(String));

    // The first run is delivering its 60 objects.
    await eventually(
      'the first job to be under way',
      async () => {
        const [row] = await db.query<{ succeeded: number }>(`SELECT count(*)::int AS succeeded FROM export_job_tasks WHERE status = 'SUCCEEDED'`);
        return row.succeeded >= 2 ? true : undefined;
      },
      60_000,
      5,
    );
    const [{ before }] = await db.query<{ before: string }>('SELECT max(sequence)::text AS before FROM audit_events');
    await ingestEvents(db.prisma, 300, 6_000);
    const later = await storedEventIds(db, before);
    const requested = await service.gql(RUN, { id: configurationId });
    expect(requested.errors).toBeUndefined();
    // The mutation says that the run is queued behind the one in progress.
    expect(requested.data.runExportConfiguration).toMatchObject({ runInProgress: true, runRequestedAt: expect.any(String) });

    const [{ max }] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
    await eventually(
      'every event to be delivered',
      async () => {
        const [row] = await db.query<{ cursor: string; run_requested_at: Date | null }>('SELECT cursor::text, run_requested_at FROM export_configurations WHERE id = $1', [
          configurationId,
        ]);
        return row.cursor === max && row.run_requested_at === null ? true : undefined;
      },
      60_000,
    );

    const jobs = await db.query<{ id: string; trigger: string; status: string; event_count: number; start_timestamp: Date; end_timestamp: Date }>(
      'SELECT id, trigger::text, status::text, event_count, start_timestamp, end_timestamp FROM export_jobs ORDER BY created_at',
    );
    expect(jobs.map((job) => [job.trigger, job.status, job.event_count])).toEqual([
      ['MANUAL', 'SUCCEEDED', first.length],
      ['MANUAL', 'SUCCEEDED', later.length],
    ]);
    // Right after: the second job starts as the first one ends, not at some later schedule.
    expect(jobs[1].start_timestamp.getTime() - jobs[0].end_timestamp.getTime()).toBeLessThan(5_000);
    const queue = createExportQueue({ redisUrl: service.redisUrl, prefix: service.prefix });
    expect(await queue.getJobSchedulersCount()).toBe(0);
    await queue.close();

    const objects = await readExports(service.harness.sandbox, `exports/${configurationId.slice(0, 8)}/`);
    const lines = objects.flatMap((object) => object.events.map((event) => event.id as string));
    expect(lines).toHaveLength(first.length + later.length);
    expect(new Set(lines).size).toBe(lines.length);
    expect(await exportedIdsInJobOrder(db.prisma, service.harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual([...first, ...later]);
  });

  it('honours a request whose queued job was lost with Redis: the reconcile loop finds it in PostgreSQL', async () => {
    const { db } = service.t;
    const configurationId = await createAccessKeyConfiguration(db.prisma, service.harness, { enabled: false });
    const ids = await ingestEvents(db.prisma, 250, 10_000);
    // As if runExportConfiguration had stored its request and the queue had then lost the job.
    await db.query(`UPDATE export_configurations SET run_requested_at = now() - interval '2 minutes' WHERE id = $1`, [configurationId]);
    await service.worker.schedule.enqueueOwedRuns(60_000);
    await eventually(
      'the requested run',
      async () => {
        const [row] = await db.query<{ run_requested_at: Date | null; jobs: number }>(
          `SELECT run_requested_at, (SELECT count(*)::int FROM export_jobs WHERE configuration_id = c.id AND status = 'SUCCEEDED') AS jobs FROM export_configurations c WHERE id = $1`,
          [configurationId],
        );
        return row.run_requested_at === null && row.jobs > 0 ? true : undefined;
      },
      30_000,
    );
    const objects = await readExports(service.harness.sandbox, `exports/${configurationId.slice(0, 8)}/`);
    expect(objects.flatMap((object) => object.events.map((event) => event.id))).toEqual(expect.arrayContaining(ids));
  });
});
