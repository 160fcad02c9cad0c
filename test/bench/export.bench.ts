import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Client, Pool } from 'pg';
import { AwsClientFactory } from '../../src/aws/aws-client.factory';
import { createLogger } from '../../src/common/logger';
import { AUDIT_EVENT_INSERT_LOCK } from '../../src/audit-event/audit-event.repository';
import { SecretBox } from '../../src/crypto/secret-box';
import { migrate } from '../../src/database/migrate';
import { createPrismaClient } from '../../src/database/prisma';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { DEFAULT_RUN_OPTIONS, ExportRunService } from '../../src/export-job/export-run.service';
import { DEFAULT_UPLOADER_OPTIONS, ExportTaskUploader } from '../../src/export-job/export-task.uploader';
import { startSandbox } from '../../src/sandbox/sandbox.server';

/**
 * `npm run bench:export -- [--events N] [--task-max M]`
 *
 * Seeds N realistic UAM events (about 700 bytes of JSON each) into a fresh database with COPY,
 * exports them to a sandbox S3 started in this process, and prints events/s, MB/s and peak RSS.
 * In the same run it times the reference, `COPY (SELECT body FROM audit_events ORDER BY sequence)
 * TO STDOUT | gzip -6` (psql and gzip as separate processes), and prints the ratio.
 * Targets: at least 0.5 of the reference throughput; peak RSS under 300 MB, flat in N.
 */

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index === -1) return fallback;
  const value = Number(process.argv[index + 1]?.replace(/_/g, ''));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer`);
  return value;
}

const EVENTS = argument('events', 1_000_000);
const TASK_MAX = argument('task-max', Number(process.env.EXPORT_TASK_MAX_EVENTS ?? 100_000));
const GZIP_LEVEL = argument('gzip-level', 6);
const SERVER = process.env.TEST_POSTGRES_URL ?? serverOf(process.env.DATABASE_URL) ?? 'postgresql://root@127.0.0.1:5432';

function serverOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const parsed = new URL(url);
  parsed.pathname = '';
  return parsed.toString().replace(/\/$/, '');
}

/** One realistic event as a COPY text row (tab-separated; backslashes doubled as COPY text wants). */
function copyRow(index: number, received: string): string {
  const id = randomUUID();
  const eventTimestamp = new Date(Date.UTC(2026, 0, 1) + index * 37).toISOString();
  const user = index % 997;
  const body = JSON.stringify({
    id,
    action: index % 5 === 0 ? 'UPDATE' : 'QUERY',
    actionStatus: index % 50 === 0 ? 'FAILURE' : 'SUCCESS',
    actor: { type: 'USER', id: `user${user}@example.com`, name: `User ${user}`, identityProvider: 'bim' },
    actorIp: `10.${index % 250}.${(index >> 8) % 250}.${(index * 7) % 250}`,
    eventTimestamp,
    receivedTimestamp: received,
    tenantId: 'tenant-4a2b9c',
    targetType: 'DATASOURCE',
    targets: [{ type: 'DATASOURCE', id: String(index % 5000), name: `analytics.sales_${index % 5000}`, technology: 'Snowflake' }],
    auditPayload: {
      type: 'DatabricksQueryAuditPayload',
      version: 1,
      queryId: randomUUID(),
      query: `SELECT region, sum(amount) FROM sales_${index % 5000} GROUP BY region`,
      rowsProduced: index % 5000,
    },
    requestId: randomUUID(),
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/128.0',
  });
  return `${id}\t${index % 5 === 0 ? 'UPDATE' : 'QUERY'}\t${eventTimestamp}\t${received}\t${body.replace(/\\/g, '\\\\')}\n`;
}

async function seed(url: string, count: number): Promise<void> {
  const psql = spawn('psql', ['-q', '-v', 'ON_ERROR_STOP=1', url], { stdio: ['pipe', 'ignore', 'inherit'] });
  const write = async (text: string) => {
    if (!psql.stdin.write(text)) await once(psql.stdin, 'drain');
  };
  // The same insert lock as every other insert (see AuditEventRepository), then COPY.
  await write(`BEGIN;\nSELECT pg_advisory_xact_lock(${AUDIT_EVENT_INSERT_LOCK});\nCOPY audit_events (id, action, event_timestamp, received_timestamp, body) FROM STDIN;\n`);
  const received = new Date().toISOString();
  let chunk = '';
  for (let index = 0; index < count; index += 1) {
    chunk += copyRow(index, received);
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(`${chunk}\\.\nCOMMIT;\nVACUUM (ANALYZE) audit_events;\n`);
  psql.stdin.end();
  const [code] = (await once(psql, 'exit')) as [number];
  if (code !== 0) throw new Error(`psql COPY failed (exit ${code})`);
}

/** The reference: PostgreSQL's own COPY, compressed by gzip -6, both outside Node. */
async function reference(url: string): Promise<{ seconds: number; gzipBytes: number }> {
  const started = process.hrtime.bigint();
  const shell = spawn('bash', ['-o', 'pipefail', '-c', `psql "$BENCH_URL" -c "COPY (SELECT body FROM audit_events ORDER BY sequence) TO STDOUT" | gzip -6 | wc -c`], {
    env: { ...process.env, BENCH_URL: url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  shell.stdout.on('data', (data: Buffer) => (output += data.toString()));
  const [code] = (await once(shell, 'exit')) as [number];
  if (code !== 0) throw new Error(`reference pipeline failed (exit ${code})`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, gzipBytes: Number(output.trim()) };
}

function rssSampler(): { peak: () => number; stop: () => void } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    if (usage.rss > peak && process.env.BENCH_DEBUG) process.stderr.write(`rss ${mb(usage.rss).toFixed(0)} heap ${mb(usage.heapUsed).toFixed(0)}/${mb(usage.heapTotal).toFixed(0)} external ${mb(usage.external).toFixed(0)} arrayBuffers ${mb(usage.arrayBuffers).toFixed(0)}\n`);
    peak = Math.max(peak, usage.rss);
  }, 20);
  return { peak: () => Math.max(peak, process.memoryUsage().rss), stop: () => clearInterval(timer) };
}

const mb = (bytes: number) => bytes / 1024 / 1024;
const fmt = (value: number, digits = 1) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const seedOnly = process.argv.indexOf('--seed-only');
  if (seedOnly !== -1) {
    await seed(process.argv[seedOnly + 1], EVENTS);
    return;
  }
  const database = `audit_export_bench_${randomBytes(4).toString('hex')}`;
  const url = `${SERVER}/${database}`;
  await migrate(url);
  const sandbox = await startSandbox();
  const prisma = createPrismaClient(url);
  const pool = new Pool({ connectionString: url, max: 4 });
  const secretBox = new SecretBox(randomBytes(32));
  const service = sandbox.user('audit-export-service');
  const awsClients = new AwsClientFactory(
    {
      stsRegion: sandbox.region,
      forcePathStyle: true,
      s3Endpoint: sandbox.endpoint,
      stsEndpoint: sandbox.endpoint,
      serviceCredentials: { accessKeyId: service.accessKeyId, secretAccessKey: service.secretAccessKey },
      requestTimeoutMs: 60_000,
    },
    secretBox,
  );
  try {
    process.stdout.write(`bench:export: ${EVENTS.toLocaleString('en-US')} events, at most ${TASK_MAX.toLocaleString('en-US')} per task, database ${database}\n`);
    let started = Date.now();
    // In a child process, so that generating the rows does not inflate this process's RSS.
    const seeder = spawn(process.execPath, [...process.execArgv, __filename, '--seed-only', url, '--events', String(EVENTS)], { stdio: ['ignore', 'inherit', 'inherit'] });
    const [seedExit] = (await once(seeder, 'exit')) as [number];
    if (seedExit !== 0) throw new Error(`seeding failed (exit ${seedExit})`);
    const [stats] = (await pool.query<{ count: string; bytes: string }>('SELECT count(*)::text AS count, sum(octet_length(body::text))::text AS bytes FROM audit_events')).rows;
    const rawBytes = Number(stats.bytes);
    process.stdout.write(`seeded with COPY in ${fmt((Date.now() - started) / 1000)} s: ${Number(stats.count).toLocaleString('en-US')} events, ${fmt(mb(rawBytes))} MB of JSON (${fmt(rawBytes / EVENTS, 0)} bytes/event)\n`);

    const ref = await reference(url);
    const refRate = EVENTS / ref.seconds;
    process.stdout.write(`reference COPY | gzip -6: ${fmt(ref.seconds, 2)} s, ${fmt(refRate, 0)} events/s, ${fmt(mb(rawBytes) / ref.seconds)} MB/s, ${fmt(mb(ref.gzipBytes))} MB gzip\n`);

    const id = randomUUID();
    const exporter = sandbox.user('exporter');
    await prisma.exportConfiguration.create({
      data: { id, interval: 'EVERY_24_HOURS', connectionStatus: 'SUCCESS', endpointType: 'S3_ACCESS_KEY', bucket: 'your-s3-bucket', path: 'bench', region: sandbox.region, accessKeyId: exporter.accessKeyId, secretCiphertext: secretBox.encrypt(exporter.secretAccessKey, id) },
    });
    const repository = new ExportJobRepository(prisma, pool);
    const runs = new ExportRunService(repository, new ExportTaskUploader(repository, { ...DEFAULT_UPLOADER_OPTIONS, gzipLevel: GZIP_LEVEL }), awsClients, { ...DEFAULT_RUN_OPTIONS, maxEventsPerTask: TASK_MAX }, createLogger('silent'));

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    if (process.env.BENCH_DEBUG) process.stderr.write(`before: ${JSON.stringify(process.memoryUsage())}\n`);
    const sampler = rssSampler();
    started = Date.now();
    const outcome = await runs.run(id, 'MANUAL');
    const seconds = (Date.now() - started) / 1000;
    sampler.stop();
    if (outcome.status !== 'succeeded' || outcome.eventCount !== EVENTS) throw new Error(`export did not succeed: ${JSON.stringify(outcome)}`);
    const uploads = sandbox.requests.filter((request) => ['PutObject', 'UploadPart'].includes(request.operation) && request.status === 200).length;
    const rate = EVENTS / seconds;
    process.stdout.write(
      `export to sandbox S3:      ${fmt(seconds, 2)} s, ${fmt(rate, 0)} events/s, ${fmt(mb(rawBytes) / seconds)} MB/s, ${outcome.jobIds.length} job, ${Math.ceil(EVENTS / TASK_MAX)} objects, ${uploads} PutObject/UploadPart requests\n`,
    );
    const ratio = rate / refRate;
    const peak = sampler.peak();
    process.stdout.write(`ratio export/reference:    ${fmt(ratio, 2)} (target >= 0.5) ${ratio >= 0.5 ? 'OK' : 'BELOW TARGET'}\n`);
    process.stdout.write(`peak RSS:                  ${fmt(mb(peak))} MB (before export ${fmt(mb(rssBefore))} MB; sandbox included, it runs in this process) (target < 300) ${mb(peak) < 300 ? 'OK' : 'ABOVE TARGET'}\n`);
  } finally {
    awsClients.destroy();
    await pool.end();
    await prisma.$disconnect();
    await sandbox.stop();
    const admin = new Client({ connectionString: `${SERVER}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:export failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
