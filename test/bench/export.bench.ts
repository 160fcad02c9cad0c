import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { SecretBox } from '../../src/crypto/secret-box';
import { migrate } from '../../src/database/migrate';
import { startSandboxProcess } from './export-bench.sandbox';
import type { ExporterRequest, ExporterResult } from './export-bench.exporter';

/**
 * `npm run bench:export -- [--events N | --sizes N1,N2,...] [--task-max M] [--gzip-level L]`
 *
 * For each N, in a fresh database: seeds N realistic UAM events (about 700 bytes of JSON each) with
 * COPY, times the reference, then exports them to a sandbox S3 and prints events/s, MB/s and the
 * exporter's memory. At the end, one table and a PASS/FAIL line per target: at least 0.5 of the
 * reference throughput; peak RSS under 300 MB; and, with several sizes, flat in N. Without --events
 * or --sizes it runs 1,000,000 events after a 100,000 run, so that the plain command checks every
 * target; --events N alone runs N only and says that flatness was not checked.
 *
 * Four kinds of process, so that only the exporter is measured:
 * - this one: databases, reference, configuration, the table;
 * - the sandbox (`sandbox/main.ts`, one per N), whose request buffering and object storage would
 *   otherwise count in the exporter's RSS;
 * - the seeder (export-bench.seed.ts), which builds a million rows of text;
 * - the exporter (export-bench.exporter.ts), a fresh Node process per N, so one N's memory does
 *   not carry into the next. It reports its RSS after a GC just before the run (baseline), the
 *   kernel's peak RSS during the run (VmHWM, reset at the start), and heap/external figures
 *   sampled every 10 ms.
 *
 * The reference is `COPY (SELECT body FROM audit_events ORDER BY sequence) TO STDOUT | gzip -6`,
 * psql and gzip as separate processes. It selects `body` rather than `row_to_json(audit_events)`
 * because the export writes exactly the bodies, one per line; `row_to_json` of the whole row
 * would make PostgreSQL do more work than the export asks of it and flatter the ratio.
 *
 * The exporter's memory (measured in the exporter process alone, 2 cores, gzip -6, 100k events
 * per task, 5 MB parts, queueSize 2). After the run and a full GC, heapUsed is back where it
 * started: no per-task JS state is kept. Two kinds of short-lived buffer made the peak rise with N,
 * because V8 frees a Buffer promoted to the old generation only at a full collection, which it
 * starts after some tens of MB of external memory, and the allocator keeps what it freed:
 * - before commit d78e6a6 every 256 KB chunk of lines was a fresh Buffer on its way into gzip
 *   (about 800 MB of garbage for 1M events): peak 239 / 276 / 308 MB at 100k / 300k / 1M;
 * - until the uploader's own multipart writer (multipart-object.writer.ts) replaced lib-storage,
 *   gzip's 16 KB output chunks waited in lib-storage's part queue and every 5 MB part was a fresh
 *   concatenation: arrayBuffers climbed to ~60 MB from the second task on and the peak settled
 *   only after several tasks: 245 / 247 / 260 MB, with ~25 MB run-to-run noise at 1M.
 * Now lines go through two reused buffers and gzip's output is copied into `queueSize + 1` part
 * buffers kept for the next task; arrayBuffers stays near 20 MB whatever N, and the peak no longer
 * grows with it: 243 / 236 / 228 MB at 100k / 300k / 1M in one invocation, 228 / 226 / 224 MB in
 * the next (after the uploader's failure handling was tightened), 244 / 238 MB at 1M / 100k in
 * reverse order. Between invocations the level moves by ~20 MB; within one, the sizes stay 4-6 MB
 * apart. About 45 MB of the
 * rise over the baseline comes before the first row, a fixed cost of the process rather than of N:
 * most of it (~32 MB) is Prisma's query compiler, WebAssembly instantiated at the first query.
 * The rest of the rise, during the rows, is V8's young generation being touched for the first
 * time (heapTotal does not move).
 *
 * MALLOC_ARENA_MAX=2 (set by `npm run bench:export`, as by `npm start` and `npm run start:worker`):
 * zlib runs on libuv's thread pool, so without a cap glibc gives those threads their own arenas
 * and keeps freed buffers in them. With the pooled part buffers, same machine: 1M events peak at
 * 283 MB (277 MB after the run and a GC) without the cap, 228 MB (224 MB after) with it; and the
 * 100k run stays at 247 MB, so without the cap the flatness check fails (36 MB spread).
 */

const RATIO_TARGET = 0.5;
const PEAK_RSS_TARGET_MB = 300;
/** "Flat in N": the exporter's peak RSS may differ by at most this much between the sizes of one invocation. */
const FLATNESS_TARGET_MB = 30;

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : (process.argv[index + 1] ?? '');
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text.replace(/_/g, ''));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs positive integers, got "${text}"`);
  return value;
}

const SIZES = (option('sizes') ?? option('events') ?? '100000,1000000').split(',').map((text) => positiveInteger('sizes', text.trim()));
const TASK_MAX = positiveInteger('task-max', option('task-max') ?? process.env.EXPORT_TASK_MAX_EVENTS ?? '100000');
const GZIP_LEVEL = positiveInteger('gzip-level', option('gzip-level') ?? '6');
const SERVER = process.env.TEST_POSTGRES_URL ?? serverOf(process.env.DATABASE_URL) ?? 'postgresql://root@127.0.0.1:5432';
const IAM_FILE = path.join(__dirname, '..', '..', 'sandbox', 'sandbox.iam.json');

function serverOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const parsed = new URL(url);
  parsed.pathname = '';
  return parsed.toString().replace(/\/$/, '');
}

interface SizeResult {
  events: number;
  rawBytes: number;
  reference: { seconds: number; gzipBytes: number };
  exporter: ExporterResult;
  uploads: number;
}

const mb = (bytes: number) => bytes / 1024 / 1024;
const fmt = (value: number, digits = 1) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const say = (text: string) => process.stdout.write(`${text}\n`);
const peakRss = (result: ExporterResult) => result.kernelPeakRss ?? result.sampledPeak.rss;

/** Runs a TypeScript file of this folder as a child process, as tsx runs this one. */
function tsChild(file: string, args: string[], extraExecArgv: string[] = [], ipc = false) {
  return spawn(process.execPath, [...process.execArgv, ...extraExecArgv, path.join(__dirname, file), ...args], {
    stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'inherit', 'inherit'],
  });
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

async function runExporter(request: ExporterRequest): Promise<ExporterResult> {
  // --expose-gc: the exporter takes its baseline after a full collection.
  const child = tsChild('export-bench.exporter.ts', [], ['--expose-gc'], true);
  const exited = once(child, 'exit');
  const reply = new Promise<{ result?: ExporterResult; error?: string }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { result?: ExporterResult; error?: string }));
    child.once('exit', (code) => reject(new Error(`exporter exited (code ${code}) without a result`)));
  });
  child.send(request);
  const { result, error } = await reply;
  await exited;
  if (!result) throw new Error(`export failed in the exporter process: ${error}`);
  return result;
}

async function benchOne(events: number): Promise<SizeResult> {
  const database = `audit_export_bench_${randomBytes(4).toString('hex')}`;
  const url = `${SERVER}/${database}`;
  await migrate(url);
  const sandbox = await startSandboxProcess();
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    say(
      `\nbench:export: ${events.toLocaleString('en-US')} events, at most ${TASK_MAX.toLocaleString('en-US')} per task, database ${database}, sandbox ${sandbox.endpoint} (pid ${sandbox.pid})`,
    );
    const started = Date.now();
    const seeder = tsChild('export-bench.seed.ts', [url, String(events)]);
    const [seedExit] = (await once(seeder, 'exit')) as [number];
    if (seedExit !== 0) throw new Error(`seeding failed (exit ${seedExit})`);
    const [stats] = (await admin.query<{ count: string; bytes: string }>('SELECT count(*)::text AS count, sum(octet_length(body::text))::text AS bytes FROM audit_events')).rows;
    const rawBytes = Number(stats.bytes);
    say(
      `seeded with COPY in ${fmt((Date.now() - started) / 1000)} s: ${Number(stats.count).toLocaleString('en-US')} events, ${fmt(mb(rawBytes))} MB of JSON (${fmt(rawBytes / events, 0)} bytes/event)`,
    );

    const ref = await reference(url);
    say(
      `reference COPY | gzip -6:  ${fmt(ref.seconds, 2)} s, ${fmt(events / ref.seconds, 0)} events/s, ${fmt(mb(rawBytes) / ref.seconds)} MB/s, ${fmt(mb(ref.gzipBytes))} MB gzip`,
    );

    // The sandbox's IAM file is public test fakes; the bench uses its users as the tests do.
    const iam = JSON.parse(readFileSync(IAM_FILE, 'utf8')) as { region: string; users: Array<{ name: string; accessKeyId: string; secretAccessKey: string }> };
    const user = (name: string) =>
      iam.users.find((candidate) => candidate.name === name) ??
      (() => {
        throw new Error(`sandbox user ${name} missing from ${IAM_FILE}`);
      })();
    const secretKey = randomBytes(32);
    const configurationId = randomUUID();
    const exporterUser = user('exporter');
    await admin.query(
      `INSERT INTO export_configurations (id, interval, connection_status, endpoint_type, bucket, path, region, access_key_id, secret_ciphertext, updated_at)
       VALUES ($1, 'EVERY_24_HOURS', 'SUCCESS', 'S3_ACCESS_KEY', 'your-s3-bucket', 'bench', $2, $3, $4, now())`,
      [configurationId, iam.region, exporterUser.accessKeyId, new SecretBox(secretKey).encrypt(exporterUser.secretAccessKey, configurationId)],
    );
    const service = user('audit-export-service');
    const exporter = await runExporter({
      databaseUrl: url,
      configurationId,
      events,
      taskMax: TASK_MAX,
      gzipLevel: GZIP_LEVEL,
      s3Endpoint: sandbox.endpoint,
      region: iam.region,
      serviceCredentials: { accessKeyId: service.accessKeyId, secretAccessKey: service.secretAccessKey },
      secretKeyHex: secretKey.toString('hex'),
    });
    const uploads = (await sandbox.requests()).filter((request) => ['PutObject', 'UploadPart'].includes(request.operation) && request.status === 200).length;
    const { baseline, sampledPeak, after } = exporter;
    say(
      `export to sandbox S3:      ${fmt(exporter.seconds, 2)} s, ${fmt(events / exporter.seconds, 0)} events/s, ${fmt(mb(rawBytes) / exporter.seconds)} MB/s, ` +
        `${exporter.jobs} job, ${Math.ceil(events / TASK_MAX)} objects, ${uploads} PutObject/UploadPart requests`,
    );
    say(
      `exporter memory (MB):      RSS baseline ${fmt(mb(baseline.rss))}, peak ${fmt(mb(peakRss(exporter)))} (sampled ${fmt(mb(sampledPeak.rss))}), after run+GC ${fmt(mb(after.rss))}; ` +
        `heapUsed ${fmt(mb(baseline.heapUsed))} -> peak ${fmt(mb(sampledPeak.heapUsed))}; heapTotal peak ${fmt(mb(sampledPeak.heapTotal))}; ` +
        `external ${fmt(mb(baseline.external))} -> peak ${fmt(mb(sampledPeak.external))}; arrayBuffers peak ${fmt(mb(sampledPeak.arrayBuffers))}`,
    );
    return { events, rawBytes, reference: ref, exporter, uploads };
  } finally {
    await admin.end();
    await sandbox.stop();
    const server = new Client({ connectionString: `${SERVER}/postgres` });
    await server.connect();
    await server.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await server.end();
  }
}

function printSummary(results: SizeResult[]): boolean {
  const header = ['N', 'ref ev/s', 'ref MB/s', 'export ev/s', 'export MB/s', 'ratio', 'baseline RSS MB', 'peak RSS MB', 'delta MB', 'peak heapUsed MB'];
  const rows = results.map((result) => {
    const { exporter, reference: ref, events, rawBytes } = result;
    return [
      events.toLocaleString('en-US'),
      fmt(events / ref.seconds, 0),
      fmt(mb(rawBytes) / ref.seconds),
      fmt(events / exporter.seconds, 0),
      fmt(mb(rawBytes) / exporter.seconds),
      fmt(ref.seconds / exporter.seconds, 2),
      fmt(mb(exporter.baseline.rss)),
      fmt(mb(peakRss(exporter))),
      fmt(mb(peakRss(exporter) - exporter.baseline.rss)),
      fmt(mb(exporter.sampledPeak.heapUsed)),
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join(' | ')} |`;
  say(
    `\nbench:export summary (task max ${TASK_MAX.toLocaleString('en-US')}, gzip -${GZIP_LEVEL}, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'}; peak RSS = the exporter process's VmHWM during the run)`,
  );
  say(line(header));
  say(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of rows) say(line(row));

  let passed = true;
  const verdict = (ok: boolean, text: string) => {
    passed &&= ok;
    say(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
  };
  say('');
  for (const result of results) {
    const ratio = result.reference.seconds / result.exporter.seconds;
    verdict(ratio >= RATIO_TARGET, `N=${result.events.toLocaleString('en-US')}: ratio ${fmt(ratio, 2)} >= ${RATIO_TARGET}`);
    verdict(
      mb(peakRss(result.exporter)) < PEAK_RSS_TARGET_MB,
      `N=${result.events.toLocaleString('en-US')}: peak RSS ${fmt(mb(peakRss(result.exporter)))} MB < ${PEAK_RSS_TARGET_MB} MB`,
    );
  }
  if (results.length > 1) {
    const peaks = results.map((result) => mb(peakRss(result.exporter)));
    const spread = Math.max(...peaks) - Math.min(...peaks);
    verdict(
      spread <= FLATNESS_TARGET_MB,
      `flat in N: peak RSS ${results.map((result, index) => `${result.events.toLocaleString('en-US')}: ${fmt(peaks[index])} MB`).join(', ')}; spread ${fmt(spread)} MB <= ${FLATNESS_TARGET_MB} MB`,
    );
  } else {
    say('note  flat in N: not checked with a single size (use --sizes N1,N2,...)');
  }
  return passed;
}

async function main(): Promise<void> {
  if (!process.env.MALLOC_ARENA_MAX) say('note: MALLOC_ARENA_MAX is not set; `npm run bench:export` sets it to 2 (see the comment at the top of export.bench.ts)');
  const results: SizeResult[] = [];
  for (const events of SIZES) results.push(await benchOne(events));
  if (!printSummary(results)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:export failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
