import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { SecretBox } from '../../src/crypto/secret-box';
import { migrate } from '../../src/database/migrate';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { startSandboxProcess } from './export-bench.sandbox';

/**
 * Bench section "scale-out" (issue #11): one big job exported by one export worker process, then by
 * two, on the same seeded events. `npx tsx test/bench/scale-out.section.ts [--events N]
 * [--task-max M] [--task-concurrency C]`; prints one `BENCH_ROW {json}` line per figure (the
 * `npm run bench` orchestrator collects them) and a human line before each.
 *
 * Each worker is the real entry point (workers/export.worker.ts) as a process of its own, with
 * EXPORT_TASK_CONCURRENCY=C (default 1): on the project's 2-core machine a single worker at its
 * default concurrency (the cores) already keeps both cores busy, so two of them could only show
 * contention; with C=1 each worker stands for a one-core machine and the section measures what a
 * second worker adds, which is the question scale-out asks. The wall time runs from queueing the
 * run to the cursor reaching the last event (the job's completing transaction), the same for both.
 * The sandbox, PostgreSQL and this process share the machine with the workers: figures are noisy.
 */

const say = (text: string) => process.stdout.write(`${text}\n`);

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
}

function positiveInteger(name: string, fallback: string): number {
  const text = option(name) ?? fallback;
  const value = Number(text.replace(/_/g, ''));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer, got "${text}"`);
  return value;
}

const EVENTS = positiveInteger('events', '1000000');
const TASK_MAX = positiveInteger('task-max', '50000');
const TASK_CONCURRENCY = positiveInteger('task-concurrency', '1');
const SERVER = process.env.TEST_POSTGRES_URL ?? 'postgresql://root@127.0.0.1:5432';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = path.join(__dirname, '..', '..');
const IAM_FILE = path.join(ROOT, 'sandbox', 'sandbox.iam.json');

interface BenchRow {
  section: 'scale-out';
  metric: string;
  value: number;
  unit: string;
  reference?: string;
  referenceValue?: number;
  ratio?: number;
  target?: string;
  pass?: boolean;
}

function row(fields: Omit<BenchRow, 'section'>): void {
  say(`BENCH_ROW ${JSON.stringify({ section: 'scale-out', ...fields })}`);
}

function startWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', 'export.worker.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout!.resume();
  return child;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** One round: `workers` processes started and ready, one run queued, timed until the job completes. */
async function round(admin: Client, url: string, configurationId: string, workers: number, baseEnv: Record<string, string>): Promise<number> {
  await admin.query('TRUNCATE export_jobs, export_job_tasks CASCADE');
  await admin.query('UPDATE export_configurations SET cursor = 0 WHERE id = $1', [configurationId]);
  const prefix = `bench-scale-out-${randomBytes(3).toString('hex')}`;
  const env = { ...baseEnv, BULLMQ_PREFIX: prefix, DATABASE_URL: url };
  const children = Array.from({ length: workers }, () => startWorker(env));
  const queue = createExportQueue({ redisUrl: REDIS_URL, prefix });
  try {
    // Ready = the worker's BullMQ worker is registered on the queue.
    await waitFor(`${workers} worker(s) to be ready`, async () => (await queue.getWorkers()).length >= workers, 60_000, 100);
    const [{ max }] = (await admin.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events')).rows;
    const started = process.hrtime.bigint();
    await queue.add('manual-export', { configurationId });
    await waitFor(
      'the job to complete',
      async () => (await admin.query<{ cursor: string }>('SELECT cursor::text FROM export_configurations WHERE id = $1', [configurationId])).rows[0].cursor === max,
      30 * 60_000,
    );
    return Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    for (const child of children) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

async function main(): Promise<void> {
  const database = `audit_export_bench_scale_${randomBytes(4).toString('hex')}`;
  const url = `${SERVER}/${database}`;
  await migrate(url);
  const sandbox = await startSandboxProcess();
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    say(
      `scale-out: ${EVENTS.toLocaleString('en-US')} events, ${TASK_MAX.toLocaleString('en-US')} per task, EXPORT_TASK_CONCURRENCY=${TASK_CONCURRENCY} per worker, database ${database}`,
    );
    const seeder = spawn(process.execPath, [...process.execArgv, path.join(__dirname, 'export-bench.seed.ts'), url, String(EVENTS)], { stdio: ['ignore', 'inherit', 'inherit'] });
    const [seedExit] = (await once(seeder, 'exit')) as [number];
    if (seedExit !== 0) throw new Error(`seeding failed (exit ${seedExit})`);

    // The sandbox's IAM file is public test fakes; the bench uses its users as the tests do.
    const iam = JSON.parse(readFileSync(IAM_FILE, 'utf8')) as { region: string; users: Array<{ name: string; accessKeyId: string; secretAccessKey: string }> };
    const user = (name: string) => iam.users.find((candidate) => candidate.name === name)!;
    const secretKey = randomBytes(32);
    const configurationId = randomUUID();
    const exporter = user('exporter');
    // Disabled: no scheduler, so the only run is the one each round queues.
    await admin.query(
      `INSERT INTO export_configurations (id, interval, enabled, connection_status, endpoint_type, bucket, path, region, access_key_id, secret_ciphertext, integrity_validation, updated_at)
       VALUES ($1, 'EVERY_24_HOURS', false, 'SUCCESS', 'S3_ACCESS_KEY', 'your-s3-bucket', 'bench', $2, $3, $4, false, now())`,
      [configurationId, iam.region, exporter.accessKeyId, new SecretBox(secretKey).encrypt(exporter.secretAccessKey, configurationId)],
    );
    const service = user('audit-export-service');
    const baseEnv = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      MALLOC_ARENA_MAX: '2',
      REDIS_URL,
      SECRET_ENCRYPTION_KEY: secretKey.toString('base64'),
      AWS_REGION: iam.region,
      AWS_ENDPOINT_URL: sandbox.endpoint,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: service.accessKeyId,
      AWS_SECRET_ACCESS_KEY: service.secretAccessKey,
      EXPORT_TASK_MAX_EVENTS: String(TASK_MAX),
      EXPORT_TASK_CONCURRENCY: String(TASK_CONCURRENCY),
      SCHEDULE_RECONCILE_PERIOD_MS: '3600000',
    };

    const one = await round(admin, url, configurationId, 1, baseEnv);
    say(`one worker:  ${one.toFixed(2)} s, ${Math.round(EVENTS / one).toLocaleString('en-US')} events/s`);
    const two = await round(admin, url, configurationId, 2, baseEnv);
    say(`two workers: ${two.toFixed(2)} s, ${Math.round(EVENTS / two).toLocaleString('en-US')} events/s (${(one / two).toFixed(2)} x one worker)`);

    const events = EVENTS.toLocaleString('en-US');
    row({ metric: `one worker, ${events} events: wall time`, value: round3(one), unit: 's' });
    row({ metric: `one worker, ${events} events: throughput`, value: Math.round(EVENTS / one), unit: 'events/s' });
    row({ metric: `two workers, ${events} events: wall time`, value: round3(two), unit: 's', reference: 'one worker', referenceValue: round3(one), ratio: round3(two / one) });
    row({
      metric: `two workers, ${events} events: throughput`,
      value: Math.round(EVENTS / two),
      unit: 'events/s',
      reference: 'one worker',
      referenceValue: Math.round(EVENTS / one),
      ratio: round3(one / two),
      target: '> 1.0 x one worker',
      pass: one / two > 1,
    });
  } finally {
    await admin.end();
    await sandbox.stop();
    const server = new Client({ connectionString: `${SERVER}/postgres` });
    await server.connect();
    await server.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await server.end();
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

main().catch((error: unknown) => {
  process.stderr.write(`scale-out section failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
