import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import { ApiKeyRepository } from '../../src/api-key/api-key.repository';
import { ApiKeyService } from '../../src/api-key/api-key.service';
import { AuditEventRepository } from '../../src/audit-event/audit-event.repository';
import { PrismaSelfAuditRecorder } from '../../src/audit-event/self-audit.recorder';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { createAccessKeyConfiguration, exportedIdsInJobOrder, ingestEvents, readExports, startExportHarness, type ExportHarness } from '../export-job/export-fixtures';
import { eventually, stopChild } from '../support/wait';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort } from '../support/redis-server';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '../..');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const EVENTS = 10_000;
// Small tasks (50 events): the run lasts long enough that the termination rounds find it, lock and all, however fast a task is.
const TASKS = EVENTS / 50;

interface Terminated {
  pid: number;
  holdsAdvisoryLock: boolean;
  query: string;
}

/**
 * What a PostgreSQL restart or failover does to the service: every session of its database is
 * terminated (57P01) while an export runs, in a few rounds, so that the run's lock session, Prisma's
 * pool, the worker's pool and the task's streaming cursor are all hit.
 */
describe('PostgreSQL sessions terminated while an export runs', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  let admin: Client;
  let child: ChildProcess | undefined;
  let output = '';
  const prefix = `${process.env.BULLMQ_PREFIX}-pgterm-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    harness = await startExportHarness();
    admin = new Client({ connectionString: `${process.env.TEST_POSTGRES_SERVER}/postgres` });
    await admin.connect();
  });
  afterAll(async () => {
    if (child) await stopChild(child);
    const queue = createExportQueue({ redisUrl: REDIS_URL, prefix });
    await queue.obliterate({ force: true });
    await queue.close();
    await admin?.end();
    await harness?.stop();
    await db?.drop();
  });

  it('keeps serving, becomes ready again, and a later run delivers every event exactly once', async () => {
    // The API key is created first: its self-audit event is exported too, before the ingested ones.
    const key = (
      await new ApiKeyService(new ApiKeyRepository(db.prisma), new PrismaSelfAuditRecorder(new AuditEventRepository())).create({ userName: 'admin', permissions: ['AUDIT'] })
    ).key;
    // Disabled: no schedule interferes; manual runs run anyway.
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { enabled: false });
    const ids = await ingestEvents(db.prisma, EVENTS);
    const [raw] = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const [max] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...harness.awsEnv,
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: db.url,
        REDIS_URL,
        BULLMQ_PREFIX: prefix,
        RUN_WORKER_IN_PROCESS: 'true',
        EXPORT_TASK_MAX_EVENTS: String(EVENTS / TASKS),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const alive = () => child!.exitCode === null && child!.signalCode === null;

    const graphql = async (query: string, variables: Record<string, unknown> = {}) => {
      const response = await fetch(`${base}/api/audit/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(10_000),
      });
      return { status: response.status, body: (await response.json()) as { data?: Record<string, any>; errors?: unknown[] } };
    };
    const runNow = async () => {
      const { status, body } = await graphql('mutation Run($id: String!) { runExportConfiguration(id: $id) { id } }', { id: configurationId });
      expect({ status, errors: body.errors }).toEqual({ status: 200, errors: undefined });
    };
    const status = async (probe: string) => (await fetch(`${base}${probe}`, { signal: AbortSignal.timeout(5_000) })).status;

    const terminated: Terminated[] = [];
    let succeededAtTermination = 0;
    try {
      await eventually('the service to be ready', async () => ((await status('/readyz')) === 200 ? true : undefined), 60_000, 100, { ignoreErrors: true });
      await runNow();

      succeededAtTermination = await eventually(
        'some tasks to succeed',
        async () => {
          const [row] = await db.query<{ succeeded: number }>(`SELECT count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS succeeded FROM export_job_tasks`);
          return row.succeeded >= 3 ? row.succeeded : undefined;
        },
        90_000,
        5,
        { ignoreErrors: true },
      );

      // Every session of the service's database, except this test's own assertion connection
      // (its client has no listener: terminating it would end the test, not the service).
      for (let round = 0; round < 4; round += 1) {
        const { rows } = await admin.query<{ pid: number; holds_advisory_lock: boolean; query: string; terminated: boolean }>(
          `SELECT a.pid, EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted) AS holds_advisory_lock,
                  left(a.query, 80) AS query, pg_terminate_backend(a.pid) AS terminated
             FROM pg_stat_activity a WHERE a.datname = $1 AND a.pid <> $2`,
          [db.url.slice(db.url.lastIndexOf('/') + 1), raw.pid],
        );
        terminated.push(...rows.filter((row) => row.terminated).map((row) => ({ pid: row.pid, holdsAdvisoryLock: row.holds_advisory_lock, query: row.query })));
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
      // Some, not all, tasks were delivered when the sessions went, and the run's lock session was among them.
      expect(succeededAtTermination).toBeLessThan(TASKS);
      expect(terminated.some((session) => session.holdsAdvisoryLock)).toBe(true);

      // Give a crash the time to happen: an unhandled 'error' event ends the process at once.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(alive()).toBe(true);
      expect(await status('/livez')).toBe(200);
      await eventually('/readyz to answer 200 again', async () => ((await status('/readyz')) === 200 ? true : undefined), 30_000, 200, { ignoreErrors: true });
      const jobs = await graphql('query Jobs($id: String!) { getAllExportJobs(exportConfigurationId: $id) { id status } }', { id: configurationId });
      expect(jobs.status).toBe(200);
      expect(jobs.body.errors).toBeUndefined();
      expect(jobs.body.data!.getAllExportJobs.length).toBeGreaterThanOrEqual(1);

      // Later runs resume the interrupted job (a run still going skips the next ones) until done.
      await eventually(
        'the cursor to reach the newest event',
        async () => {
          const configuration = await db.prisma.exportConfiguration.findUniqueOrThrow({ where: { id: configurationId }, select: { cursor: true } });
          if (configuration.cursor.toString() === max.max) return true;
          await runNow();
          return undefined;
        },
        120_000,
        2_000,
        { ignoreErrors: true },
      );
      expect(alive()).toBe(true);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\nchild exit: ${child.exitCode ?? child.signalCode ?? 'running'}; tasks succeeded at termination: ${succeededAtTermination}\n` +
          `terminated sessions: ${JSON.stringify(terminated)}\nservice output (tail):\n${output.slice(-6000)}`,
        { cause: error },
      );
    }

    // No unhandled error anywhere, and the lost lock was noticed.
    expect(output).not.toMatch(/Unhandled 'error' event|uncaught|unhandled ?rejection/i);
    expect(output).toContain('export run lock lost');

    const jobs = await db.prisma.exportJob.findMany({ include: { tasks: true } });
    expect(jobs.every((job) => job.status === 'SUCCEEDED' && job.tasks.every((task) => task.status === 'SUCCEEDED'))).toBe(true);
    const expected = (await db.query<{ id: string }>(`SELECT body->>'id' AS id FROM audit_events ORDER BY sequence`)).map((row) => row.id);
    expect(expected).toHaveLength(EVENTS + 1);
    expect(expected.slice(1)).toEqual(ids);

    const exportPrefix = `exports/${configurationId.slice(0, 8)}/`;
    const lines = (await readExports(harness.sandbox, exportPrefix)).flatMap((object) => object.events.map((event) => event.id as string));
    expect(lines).toHaveLength(expected.length);
    expect(new Set(lines).size).toBe(expected.length);
    expect(await exportedIdsInJobOrder(db.prisma, harness.sandbox, exportPrefix)).toEqual(expected);
  });
});
