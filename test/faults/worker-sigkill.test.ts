import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually, stopChild } from '../support/wait';
import { createAccessKeyConfiguration, exportedIdsInJobOrder, ingestEvents, readExports, startExportHarness, type ExportHarness } from '../export-job/export-fixtures';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '../..');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

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
        // Only the start-up pass of the reconcile loop may queue the resumption within this test.
        SCHEDULE_RECONCILE_PERIOD_MS: '3600000',
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
    for (const child of children) await stopChild(child);
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
      const progress = await eventually(
        'some tasks to succeed',
        async () => {
          const [row] = await db.query<{ succeeded: number; total: number }>(
            `SELECT count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS succeeded, count(*)::int AS total FROM export_job_tasks`,
          );
          return row.succeeded >= 3 ? row : undefined;
        },
        90_000,
        5,
      );
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      expect(progress.total).toBe(50);

      const [afterKill] = await db.query<{ succeeded: number; job_status: string }>(
        `SELECT (SELECT count(*)::int FROM export_job_tasks WHERE status = 'SUCCEEDED') AS succeeded, (SELECT status::text FROM export_jobs) AS job_status`,
      );
      expect(afterKill.succeeded).toBeLessThan(50);
      expect(afterKill.job_status).toBe('IN_PROGRESS');
      expect((await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } })).cursor).toBe(0n);

      // The killed worker's BullMQ job goes too (as with a Redis that lost its keys), so BullMQ's
      // stalled-job check has nothing to hand back: only the new worker's start-up, which finds
      // the interrupted job in PostgreSQL, can resume it. Restart, and nothing else.
      await queue.obliterate({ force: true });
      startWorker();
      const [max] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
      await eventually(
        'the export to finish',
        async () => {
          const configuration = await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } });
          return configuration.cursor.toString() === max.max ? true : undefined;
        },
        90_000,
        50,
      );
      // The BullMQ job is marked completed just after the run's last write.
      const resumed = await eventually(
        'the resuming BullMQ job to complete',
        async () => {
          const completed = await queue.getJobs(['completed']);
          return completed.length > 0 ? completed : undefined;
        },
        30_000,
        50,
      );
      expect(resumed.map((job) => job.name)).toEqual(['resume-export']);
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
