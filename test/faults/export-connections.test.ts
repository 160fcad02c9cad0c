import { Pool } from 'pg';
import { createLogger } from '../../src/common/logger';
import { ExportJobRepository, RunLockLostError } from '../../src/export-job/export-job.repository';
import { DEFAULT_RUN_OPTIONS, ExportRunService } from '../../src/export-job/export-run.service';
import { ExportTaskUploader } from '../../src/export-job/export-task.uploader';
import {
  createAccessKeyConfiguration,
  digestWriterFor,
  exportedIdsInJobOrder,
  ingestEvents,
  silentLogger,
  startExportHarness,
  type ExportHarness,
} from '../export-job/export-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(60_000);

/**
 * The two connections an export run holds across awaits, each losing its session the way a
 * PostgreSQL restart or failover ends it (pg_terminate_backend: 57P01). Neither may end the process
 * (an unhandled 'error' event would end this test's worker), and neither may leave the run waiting.
 */
describe('export run connections whose PostgreSQL session ends', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  let pool: Pool;
  let repository: ExportJobRepository;
  const logs: string[] = [];
  const poolErrors: Error[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    harness = await startExportHarness();
    pool = new Pool({ connectionString: db.url, max: 4 });
    pool.on('error', (error) => poolErrors.push(error));
    repository = new ExportJobRepository(db.prisma, pool, createLogger('warn', 'test', { write: (line: string) => void logs.push(line) }));
  });
  afterAll(async () => {
    await pool?.end();
    await harness?.stop();
    await db?.drop();
  });

  /** Terminates the sessions of this test's database whose current or last query starts with `queryPrefix`. */
  async function terminate(queryPrefix: string): Promise<number> {
    const rows = await db.query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE $1`,
      [`${queryPrefix}%`],
    );
    return rows.filter((row) => row.terminated).length;
  }

  it('a lost run lock is noted and logged, assertHeld says so, release() is safe, and the lock is free again', async () => {
    const configurationId = '3f8e2b1c-0000-4000-8000-000000000001';
    const lock = (await repository.tryLockConfiguration(configurationId))!;
    expect(lock).toBeDefined();
    await expect(lock.assertHeld()).resolves.toBeUndefined();
    // Its last query was assertHeld's ping.
    expect(await terminate('SELECT 1')).toBe(1);

    await expect(lock.assertHeld()).rejects.toBeInstanceOf(RunLockLostError);
    expect(logs.join('\n')).toContain('export run lock lost');
    await expect(lock.release()).resolves.toBeUndefined();
    await expect(lock.release()).resolves.toBeUndefined();

    // PostgreSQL freed the lock with the session: the next run may take it.
    const next = await repository.tryLockConfiguration(configurationId);
    expect(next).toBeDefined();
    await next!.release();
  });

  it('an event stream (binary COPY) whose session ends mid-stream fails at once instead of waiting forever', async () => {
    // Enough events (about 8 MB) that the server is still sending when its session ends: what
    // the socket buffers already hold would otherwise end the stream normally.
    await ingestEvents(db.prisma, 10_000);
    const [range] = await db.query<{ min: string; max: string }>('SELECT (min(sequence) - 1)::text AS min, max(sequence)::text AS max FROM audit_events');
    const { batches, release } = await repository.streamEventBodies(BigInt(range.min), BigInt(range.max));

    let read = 0;
    let terminated = 0;
    const reading = (async () => {
      for await (const batch of batches) {
        read += batch.length;
        if (read >= 250 && terminated === 0) terminated = await terminate('COPY (SELECT body FROM audit_events');
        // A slow consumer, so that more of the COPY is still to come when the session ends.
        if (read > 250) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      reading.then(
        () => 'ended',
        (error: Error) => error,
      ),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still waiting after 5 s'), 5_000))),
    ]);
    clearTimeout(timer);
    // Give the connection back first, so that a failed expectation below cannot leave pool.end() waiting.
    await release(outcome instanceof Object ? (outcome as Error) : new Error(String(outcome)));
    expect(terminated).toBe(1);
    // Not toBeInstanceOf(Error): a socket error (ECONNRESET) is made by Node outside Jest's realm.
    expect(outcome).toEqual(expect.objectContaining({ message: expect.stringMatching(/terminat|ECONNRESET|Connection terminated/) }));
    expect(read).toBeLessThan(10_000);

    // The pool hands out a working connection afterwards: the same range streams whole, byte for byte as stored.
    const again = await repository.streamEventBodies(BigInt(range.min), BigInt(range.max));
    const streamed: string[] = [];
    for await (const batch of again.batches) for (const event of batch) streamed.push(event.toString('utf8'));
    await again.release();
    const stored = await db.query<{ text: string }>('SELECT body::text AS text FROM audit_events ORDER BY sequence');
    expect(streamed).toEqual(stored.map((row) => row.text));
  });

  it('a run whose lock session ends stops, leaves its job resumable, and the next run delivers every event once', async () => {
    await db.query('TRUNCATE audit_events, export_jobs, export_job_tasks');
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { enabled: false });
    const ids = await ingestEvents(db.prisma, 2_000);
    const runs = new ExportRunService(
      repository,
      new ExportTaskUploader(repository),
      digestWriterFor(db.prisma, repository, harness.secretBox),
      harness.awsClients,
      { ...DEFAULT_RUN_OPTIONS, retryBaseDelayMs: 20, retryMaxDelayMs: 200, maxEventsPerTask: 100 },
      silentLogger,
    );
    const succeeded = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_job_tasks WHERE status = 'SUCCEEDED'`))[0].n;

    const first = runs.run(configurationId, 'MANUAL').then(
      (outcome) => outcome,
      (error: Error) => error,
    );
    const deadline = Date.now() + 30_000;
    while ((await succeeded()) < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    // Only the session holding the run's advisory lock (first key 'expo'; a task's claim, 'expt', is another session).
    const [terminated] = await db.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(a.pid))::int AS n FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
          AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted AND l.classid::bigint = x'6578706f'::bigint)`,
    );
    expect(terminated.n).toBe(1);

    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([first, new Promise((resolve) => (timer = setTimeout(() => resolve('still running after 20 s'), 20_000)))]);
    clearTimeout(timer);
    // It stopped at its next step: without the lock another run may own the configuration.
    expect(outcome).toBeInstanceOf(RunLockLostError);
    const [job] = await db.query<{ status: string }>('SELECT status::text FROM export_jobs');
    expect(job.status).toBe('IN_PROGRESS');
    expect(await succeeded()).toBeLessThan(20);
    expect((await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } })).cursor).toBe(0n);

    // The next run takes the lock (PostgreSQL freed it with the session) and resumes the job.
    await expect(runs.run(configurationId, 'MANUAL')).resolves.toEqual({ status: 'succeeded', jobIds: [expect.any(String)], eventCount: 2_000 });
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });
});
