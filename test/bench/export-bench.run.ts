import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { SecretBox } from '../../src/crypto/secret-box';
import { migrate } from '../../src/database/migrate';
import { compiledPath } from './bench-build';
import { WORKER_NODE_FLAGS } from '../../workers/worker-runtime';
import { startSandboxProcess } from './export-bench.sandbox';
import type { ExporterRequest, ExporterResult } from './export-bench.exporter';

/**
 * One export measurement, shared by `npm run bench:export` (export.bench.ts) and the sections of
 * `npm run bench` (export.section.ts, store-size.section.ts): a fresh database, N seeded events, the
 * shell references over the same rows, then one export run in a fresh exporter process.
 */

export const SERVER = process.env.TEST_POSTGRES_URL ?? serverOf(process.env.DATABASE_URL) ?? 'postgresql://root@127.0.0.1:5432';
const IAM_FILE = path.join(__dirname, '..', '..', 'sandbox', 'sandbox.iam.json');

function serverOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const parsed = new URL(url);
  parsed.pathname = '';
  return parsed.toString().replace(/\/$/, '');
}

export const mib = (bytes: number) => bytes / 1024 / 1024;
const fmt = (value: number, digits = 1) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const say = (text: string) => process.stderr.write(`${text}\n`);
export const peakRss = (result: ExporterResult) => result.kernelPeakRss ?? result.sampledPeak.rss;

/** A shell pipeline over the same rows the export reads, outside Node: the yardstick. */
export interface ReferenceResult {
  /** "COPY | gzip -6", "COPY | pigz -6 -p 2" */
  name: string;
  /** undefined when the tool is not installed (the row then says so; a reference is never made up). */
  seconds?: number;
  gzipBytes?: number;
  missing?: string;
}

export function referenceCommands(gzipLevel: number): Array<{ name: string; tool: string; command: string }> {
  const cores = os.availableParallelism();
  return [
    { name: `COPY | gzip -${gzipLevel}`, tool: 'gzip', command: `gzip -${gzipLevel}` },
    { name: `COPY | pigz -${gzipLevel} -p ${cores}`, tool: 'pigz', command: `pigz -${gzipLevel} -p ${cores}` },
  ];
}

function installed(tool: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/**
 * `COPY (SELECT body::text FROM audit_events ORDER BY sequence) TO STDOUT | <compressor> | wc -c`:
 * psql and the compressor as separate processes. `body` (the stored canonical text) rather than
 * `row_to_json(audit_events)`, because the export writes exactly the bodies, one per line.
 * `where` restricts it to the rows the export reads (the store-size section's new events).
 */
export async function runReference(url: string, reference: { name: string; tool: string; command: string }, where = 'true'): Promise<ReferenceResult> {
  if (!installed(reference.tool)) return { name: reference.name, missing: `${reference.tool} is not installed (Debian: apt-get install -y ${reference.tool})` };
  const started = process.hrtime.bigint();
  const shell = spawn(
    'bash',
    ['-o', 'pipefail', '-c', `psql "$BENCH_URL" -c "COPY (SELECT body::text FROM audit_events WHERE ${where} ORDER BY sequence) TO STDOUT" | ${reference.command} | wc -c`],
    { env: { ...process.env, BENCH_URL: url }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  shell.stdout.on('data', (data: Buffer) => (output += data.toString()));
  const [code] = (await once(shell, 'exit')) as [number];
  if (code !== 0) throw new Error(`reference pipeline ${reference.name} failed (exit ${code})`);
  return { name: reference.name, seconds: Number(process.hrtime.bigint() - started) / 1e9, gzipBytes: Number(output.trim()) };
}

/** Runs a TypeScript file of this folder as a child process, as tsx runs this one. */
export function tsChild(file: string, args: string[], extraExecArgv: string[] = []) {
  return spawn(process.execPath, [...process.execArgv, ...extraExecArgv, path.join(__dirname, file), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/**
 * The exporter runs from the tsc build (bench-build.ts), as `npm run start:worker` runs the worker:
 * under tsx the same process carries tsx's loader, esbuild's transforms and the source maps of
 * every module, about 60 MB of RSS the service never has.
 */
/** BENCH_EXPORTER_NODE_FLAGS: more Node flags for the exporter, to try a setting before it goes into WORKER_NODE_FLAGS. */
function extraNodeFlags(): string[] {
  return (process.env.BENCH_EXPORTER_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
}

async function runExporter(request: ExporterRequest): Promise<ExporterResult> {
  // --expose-gc: the exporter takes its baseline after a full collection.
  const child = spawn(process.execPath, ['--expose-gc', ...WORKER_NODE_FLAGS, ...extraNodeFlags(), await compiledPath('test/bench/export-bench.exporter.js')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
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

export interface BenchDatabase {
  url: string;
  name: string;
  admin: Client;
  drop(): Promise<void>;
}

/** A fresh, migrated database of the bench's own. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `audit_export_bench_${randomBytes(4).toString('hex')}`;
  const url = `${SERVER}/${name}`;
  await migrate(url);
  const admin = new Client({ connectionString: url });
  await admin.connect();
  return {
    url,
    name,
    admin,
    async drop() {
      await admin.end().catch(() => undefined);
      const server = new Client({ connectionString: `${SERVER}/postgres` });
      await server.connect();
      await server.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await server.end();
    },
  };
}

/** Seeds `events` realistic events with COPY (export-bench.seed.ts, its own process). */
export async function seedWithCopy(url: string, events: number): Promise<void> {
  const seeder = tsChild('export-bench.seed.ts', [url, String(events)]);
  const [seedExit] = (await once(seeder, 'exit')) as [number];
  if (seedExit !== 0) throw new Error(`seeding failed (exit ${seedExit})`);
}

export interface ExportMeasurement {
  events: number;
  rawBytes: number;
  references: ReferenceResult[];
  exporter: ExporterResult;
  uploads: number;
}

export interface ExportBenchOptions {
  events: number;
  taskMax: number;
  gzipLevel: number;
  /** Run the shell references over the exported rows (the store-size section does without). */
  references: boolean;
  /** The configuration's delivery format (default NDJSON_GZIP, the column's default). */
  format?: 'NDJSON_GZIP' | 'JSON_ARRAY_GZIP' | 'CLOUDTRAIL_JSON_GZIP' | 'OCSF_PARQUET';
  /** Called on the migrated, empty database before the configuration and the events (the store-size section's old events). */
  prepare?: (database: BenchDatabase) => Promise<void>;
}

/** Seeds, runs the references, exports once; drops the database afterwards. */
export async function measureExport(options: ExportBenchOptions): Promise<ExportMeasurement> {
  const { events, taskMax, gzipLevel } = options;
  const database = await createBenchDatabase();
  const sandbox = await startSandboxProcess();
  const { admin, url } = database;
  try {
    say(
      `export: ${events.toLocaleString('en-US')} events, at most ${taskMax.toLocaleString('en-US')} per task, database ${database.name}, sandbox ${sandbox.endpoint} (pid ${sandbox.pid})`,
    );
    await options.prepare?.(database);
    // Everything stored so far is old: the configuration starts after it, as one that has
    // exported it already, and the references read only what the export reads.
    const [{ max: oldMax }] = (await admin.query<{ max: string }>('SELECT coalesce(max(sequence), 0)::text AS max FROM audit_events')).rows;

    const started = Date.now();
    await seedWithCopy(url, events);
    const [stats] = (
      await admin.query<{ count: string; bytes: string }>(
        'SELECT count(*)::text AS count, sum(octet_length(body::text))::text AS bytes FROM audit_events WHERE sequence > $1::bigint',
        [oldMax],
      )
    ).rows;
    const rawBytes = Number(stats.bytes);
    say(
      `seeded with COPY in ${fmt((Date.now() - started) / 1000)} s: ${Number(stats.count).toLocaleString('en-US')} events, ${fmt(mib(rawBytes))} MB of JSON (${fmt(rawBytes / events, 0)} bytes/event)`,
    );

    const references: ReferenceResult[] = [];
    if (options.references) {
      for (const command of referenceCommands(gzipLevel)) {
        const ref = await runReference(url, command, `sequence > ${BigInt(oldMax)}`);
        references.push(ref);
        say(
          ref.seconds === undefined
            ? `reference ${ref.name}: MISSING, ${ref.missing}`
            : `reference ${ref.name}: ${fmt(ref.seconds, 2)} s, ${fmt(events / ref.seconds, 0)} events/s, ${fmt(mib(rawBytes) / ref.seconds)} MB/s, ${fmt(mib(ref.gzipBytes!))} MB gzip`,
        );
      }
    }

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
      `INSERT INTO export_configurations (id, interval, connection_status, endpoint_type, bucket, path, region, access_key_id, secret_ciphertext, cursor, updated_at, format)
       VALUES ($1, 'EVERY_24_HOURS', 'SUCCESS', 'S3_ACCESS_KEY', 'your-s3-bucket', 'bench', $2, $3, $4, $5::bigint, now(), $6::delivery_format)`,
      [
        configurationId,
        iam.region,
        exporterUser.accessKeyId,
        new SecretBox(secretKey).encrypt(exporterUser.secretAccessKey, configurationId),
        oldMax,
        options.format ?? 'NDJSON_GZIP',
      ],
    );
    const service = user('audit-export-service');
    const exporter = await runExporter({
      databaseUrl: url,
      configurationId,
      events,
      taskMax,
      gzipLevel,
      s3Endpoint: sandbox.endpoint,
      region: iam.region,
      serviceCredentials: { accessKeyId: service.accessKeyId, secretAccessKey: service.secretAccessKey },
      secretKeyHex: secretKey.toString('hex'),
    });
    const uploads = (await sandbox.requests()).filter((request) => ['PutObject', 'UploadPart'].includes(request.operation) && request.status === 200).length;
    const { baseline, sampledPeak, after } = exporter;
    say(
      `export to sandbox S3: ${fmt(exporter.seconds, 2)} s, ${fmt(events / exporter.seconds, 0)} events/s, ${fmt(mib(rawBytes) / exporter.seconds)} MB/s, ` +
        `${exporter.jobs} job, ${Math.ceil(events / taskMax)} objects, ${uploads} PutObject/UploadPart requests`,
    );
    say(
      `exporter memory (MB): RSS baseline ${fmt(mib(baseline.rss))}, peak ${fmt(mib(peakRss(exporter)))} (sampled ${fmt(mib(sampledPeak.rss))}), after run+GC ${fmt(mib(after.rss))}; ` +
        `heapUsed ${fmt(mib(baseline.heapUsed))} -> peak ${fmt(mib(sampledPeak.heapUsed))}; heapTotal peak ${fmt(mib(sampledPeak.heapTotal))}; ` +
        `external ${fmt(mib(baseline.external))} -> peak ${fmt(mib(sampledPeak.external))}; arrayBuffers peak ${fmt(mib(sampledPeak.arrayBuffers))}`,
    );
    return { events, rawBytes, references, exporter, uploads };
  } finally {
    await sandbox.stop();
    await database.drop();
  }
}
