import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { createAccessKeyConfiguration, exportedIdsInJobOrder, ingestEvents, readExports, startExportHarness, type ExportHarness } from '../export-job/export-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually, stopChild } from '../support/wait';

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '../..');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** First key of the task claims' advisory locks ('expt'), as src/export-job/export-task-claim.repository.ts takes them. */
const TASK_LOCK_NAMESPACE = 0x65787074;

interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** The worker's JSON log lines so far. */
  lines: Array<Record<string, unknown>>;
  output: string;
}

/**
 * Issue #11: two export worker processes (the real entry point, workers/export.worker.ts) share
 * the tasks of one job. Each process names its PostgreSQL sessions (application_name), so the
 * test can tell from pg_locks which process holds which task.
 */
describe('two worker processes sharing one job', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  const prefix = `${process.env.BULLMQ_PREFIX}-parallel-${randomBytes(3).toString('hex')}`;
  const workers: WorkerProcess[] = [];

  function startWorker(name: string): WorkerProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/export.worker.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...harness.awsEnv,
        NODE_ENV: 'test',
        DATABASE_URL: `${db.url}?application_name=${name}`,
        REDIS_URL,
        BULLMQ_PREFIX: prefix,
        EXPORT_TASK_MAX_EVENTS: '200',
        EXPORT_TASK_CONCURRENCY: '2',
        // Only the start-up pass of the reconcile loop: the test decides when runs are queued.
        SCHEDULE_RECONCILE_PERIOD_MS: '3600000',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const worker: WorkerProcess = { name, child, lines: [], output: '' };
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const complete = partial.split('\n');
      partial = complete.pop()!;
      for (const line of complete) {
        worker.output += `${line}\n`;
        try {
          worker.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      worker.output += chunk.toString();
    });
    workers.push(worker);
    return worker;
  }

  const started = (worker: WorkerProcess) =>
    eventually(`${worker.name} to start`, async () => (worker.lines.some((line) => line.msg === 'export worker started') ? true : undefined), 60_000);
  const deliveredOffsets = (worker: WorkerProcess) => worker.lines.filter((line) => line.msg === 'export task delivered').map((line) => line.offset as number);

  async function stopAll(): Promise<void> {
    for (const worker of workers.splice(0)) await stopChild(worker.child);
  }

  async function exportFinished(configurationId: string): Promise<void> {
    const [max] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
    await eventually(
      'the export to finish',
      async () => ((await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId } })).cursor.toString() === max.max ? true : undefined),
      120_000,
      50,
    );
  }

  function withOutput<T>(work: () => Promise<T>): Promise<T> {
    return work().catch((error: unknown) => {
      const logs = workers.map((worker) => `--- ${worker.name}:\n${worker.output.slice(-3000)}`).join('\n');
      throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    harness = await startExportHarness();
  });
  afterEach(async () => {
    await stopAll();
    const queue = createExportQueue({ redisUrl: REDIS_URL, prefix });
    await queue.obliterate({ force: true });
    await queue.close();
    await db.query('TRUNCATE audit_events, export_jobs, export_job_tasks');
    await db.query('DELETE FROM export_configurations');
  });
  afterAll(async () => {
    await harness.stop();
    await db.drop();
  });

  it('both processes deliver tasks of the one job, each task once, and every event is in the bucket exactly once', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { enabled: false });
    const ids = await ingestEvents(db.prisma, 8_000, 0, 500);
    const queue = createExportQueue({ redisUrl: REDIS_URL, prefix });
    try {
      await withOutput(async () => {
        const [a, b] = [startWorker('worker-a'), startWorker('worker-b')];
        await Promise.all([started(a), started(b)]);
        await queue.add('manual-export', { configurationId });
        await exportFinished(configurationId);

        const [fromA, fromB] = [deliveredOffsets(a), deliveredOffsets(b)];
        // Both did part of the job's 40 tasks, and no task was delivered by both.
        expect(fromA.length).toBeGreaterThan(0);
        expect(fromB.length).toBeGreaterThan(0);
        expect([...fromA, ...fromB].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, index) => index * 200));
      });
    } finally {
      await queue.close();
    }
    const jobs = await db.prisma.exportJob.findMany({ include: { tasks: true } });
    expect(jobs).toHaveLength(1);
    expect(jobs[0].status).toBe('SUCCEEDED');
    expect(jobs[0].tasks.map((task) => [task.status, task.attempts])).toEqual(Array.from({ length: 40 }, () => ['SUCCEEDED', 1]));
    const objects = await readExports(harness.sandbox, `exports/${configurationId.slice(0, 8)}/`);
    expect(objects).toHaveLength(40);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });

  it('a worker killed (SIGKILL) while it holds a task: the other takes the task over and finishes the job, every event exactly once', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { enabled: false });
    const ids = await ingestEvents(db.prisma, 8_000, 0, 500);
    const queue = createExportQueue({ redisUrl: REDIS_URL, prefix });
    try {
      await withOutput(async () => {
        const [a, b] = [startWorker('worker-a'), startWorker('worker-b')];
        await Promise.all([started(a), started(b)]);
        await queue.add('manual-export', { configurationId });

        // The run's process holds the configuration's lock; the other one is only helping. Wait
        // until the helper holds a task claim and has started its upload, then kill it there and then.
        const held = await eventually(
          'the helping worker to hold a task',
          async () => {
            const rows = await db.query<{ holder: string; run_holder: string | null; task_id: string }>(
              `SELECT a.application_name AS holder, t.id::text AS task_id,
                      (SELECT ra.application_name FROM pg_locks rl JOIN pg_stat_activity ra ON ra.pid = rl.pid
                        WHERE rl.locktype = 'advisory' AND rl.granted AND rl.classid::bigint = x'6578706f'::bigint LIMIT 1) AS run_holder
                 FROM pg_locks l
                 JOIN pg_stat_activity a ON a.pid = l.pid
                 JOIN export_job_tasks t ON l.objid::bigint = (hashtext(t.id::text)::bigint & 4294967295)
                WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND t.status = 'IN_PROGRESS'`,
              [TASK_LOCK_NAMESPACE],
            );
            return rows.find((row) => row.run_holder !== null && row.holder !== row.run_holder);
          },
          90_000,
          2,
        );
        const victim = workers.find((worker) => worker.name === held.holder)!;
        const survivor = workers.find((worker) => worker !== victim)!;
        victim.child.kill('SIGKILL');
        await new Promise((resolve) => victim.child.once('exit', resolve));

        await exportFinished(configurationId);
        const taken = await db.prisma.exportJobTask.findUniqueOrThrow({ where: { id: held.task_id } });
        // Started by the killed worker, then again by the survivor, which delivered it.
        expect(taken.status).toBe('SUCCEEDED');
        expect(taken.attempts).toBeGreaterThanOrEqual(2);
        expect(survivor.lines.some((line) => line.msg === 'export task delivered' && line.taskId === held.task_id)).toBe(true);
      });
    } finally {
      await queue.close();
    }
    const jobs = await db.prisma.exportJob.findMany({ include: { tasks: true } });
    expect(jobs).toHaveLength(1);
    expect(jobs[0].status).toBe('SUCCEEDED');
    expect(jobs[0].tasks.every((task) => task.status === 'SUCCEEDED')).toBe(true);
    const objects = await readExports(harness.sandbox, `exports/${configurationId.slice(0, 8)}/`);
    expect(objects).toHaveLength(40);
    const lines = objects.flatMap((object) => object.events.map((event) => event.id as string));
    expect(new Set(lines).size).toBe(8_000);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, `exports/${configurationId.slice(0, 8)}/`)).toEqual(ids);
  });
});
