import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createAccessKeyConfiguration, exportedIdsInJobOrder, ingestEvents, readExports, startExportHarness, type ExportHarness } from '../export-job/export-fixtures';

/** BullMQ's default lock of an active job: only after it expires can the stalled-job check take the killed worker's job back. */
const BULLMQ_LOCK_DURATION_MS = 30_000;

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '../..');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Polls until `check` returns a value (bounded), so a stuck worker fails the test instead of hanging it. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

describe('export worker process killed with SIGKILL mid-export, then restarted', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  const prefix = `${process.env.BULLMQ_PREFIX}-crash-${randomBytes(3).toString('hex')}`;
  const children: ChildProcess[] = [];
  let stderr = '';

  function startWorker(): ChildProcess {
    // The real entry point, as its own process: `node dist/workers/export.worker.js` in production.
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/export.worker.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...harness.awsEnv,
        NODE_ENV: 'test',
        DATABASE_URL: db.url,
        REDIS_URL,
        BULLMQ_PREFIX: prefix,
        EXPORT_TASK_MAX_EVENTS: '200',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    children.push(child);
    return child;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    harness = await startExportHarness();
  });
  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
        clearTimeout(timer);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }
    const queue = createExportQueue({ redisUrl: REDIS_URL, prefix });
    await queue.obliterate({ force: true });
    await queue.close();
    await harness.stop();
    await db.drop();
  });

  it('resumes the interrupted job as soon as a worker starts, and every event is in the bucket exactly once', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { enabled: false });
    const ids = await ingestEvents(db.prisma, 10_000);
    const queue = createExportQueue({ redisUrl: REDIS_URL, prefix });
    try {
      const first = startWorker();
      await queue.add('manual-export', { configurationId });

      // Kill it once some, but not all, of the 50 tasks are delivered.
      const progress = await waitFor('some tasks to succeed', async () => {
        const [row] = await db.query<{ succeeded: number; total: number }>(
          `SELECT count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS succeeded, count(*)::int AS total FROM export_job_tasks`,
        );
        return row.succeeded >= 3 ? row : undefined;
      }, 90_000, 5);
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      const killedAt = Date.now();
      expect(progress.total).toBe(50);

      const [afterKill] = await db.query<{ succeeded: number; job_status: string }>(
        `SELECT (SELECT count(*)::int FROM export_job_tasks WHERE status = 'SUCCEEDED') AS succeeded, (SELECT status::text FROM export_jobs) AS job_status`,
      );
      expect(afterKill.succeeded).toBeLessThan(50);
      expect(afterKill.job_status).toBe('IN_PROGRESS');
      expect((await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } })).cursor).toBe(0n);

      // Restart, and nothing else: the new worker queues the interrupted job's resumption as it
      // starts (the job is resumed with the same object keys), instead of waiting for BullMQ's
      // stalled-job check, which cannot take the killed worker's job back before its lock expires.
      startWorker();
      const [max] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
      await waitFor('the export to finish', async () => {
        const configuration = await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } });
        return configuration.cursor.toString() === max.max ? true : undefined;
      }, 90_000, 50);
      const [finished] = await db.query<{ end_timestamp: Date }>('SELECT end_timestamp FROM export_jobs');
      expect(finished.end_timestamp.getTime()).toBeLessThan(killedAt + BULLMQ_LOCK_DURATION_MS);
      const resumed = await queue.getJobs(['completed']);
      expect(resumed.map((job) => job.name)).toContain('resume-export');
    } catch (error) {
      throw new Error(`${(error as Error).message}\nworker stderr:\n${stderr.slice(-4000)}`, { cause: error });
    } finally {
      await queue.close();
    }

    const jobs = await db.prisma.exportJob.findMany({ include: { tasks: true } });
    expect(jobs).toHaveLength(1);
    expect(jobs[0].status).toBe('SUCCEEDED');
    expect(jobs[0].tasks.every((task) => task.status === 'SUCCEEDED')).toBe(true);

    const objects = await readExports(harness.sandbox, `exports/${configurationId.slice(0, 8)}/`);
    expect(objects).toHaveLength(50);
    const lines = objects.flatMap((object) => object.events.map((event) => event.id as string));
    expect(lines).toHaveLength(10_000);
    expect(new Set(lines).size).toBe(lines.length);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });
});
