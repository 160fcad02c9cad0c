import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { Pool } from 'pg';
import pino from 'pino';
import { AwsClientFactory } from '../../src/aws/aws-client.factory';
import { createLogger } from '../../src/common/logger';
import { parseEnv } from '../../src/config/env';
import { SecretBox } from '../../src/crypto/secret-box';
import { createPrismaClient } from '../../src/database/prisma';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { DEFAULT_RUN_OPTIONS, ExportRunService } from '../../src/export-job/export-run.service';
import { DEFAULT_UPLOADER_OPTIONS, ExportTaskUploader } from '../../src/export-job/export-task.uploader';
import { DigestSigningKeyRepository } from '../../src/digest-signing-key/digest-signing-key.repository';
import { DigestSigningKeyService } from '../../src/digest-signing-key/digest-signing-key.service';
import { ExportDigestChainRepository } from '../../src/export-job/export-digest-chain.repository';
import { ExportDigestWriter } from '../../src/export-job/export-digest.writer';
import { applyWorkerRuntimeFlags } from '../../workers/worker-runtime';

/**
 * The measured process of `bench:export`: one export run, alone in a fresh Node process (the
 * sandbox, the seeding and the bench's own bookkeeping run elsewhere). Started by export-bench.run.ts
 * from the tsc build (bench-build.ts) with an IPC channel; receives an ExporterRequest, answers with an ExporterResult, exits.
 */

export interface ExporterRequest {
  databaseUrl: string;
  configurationId: string;
  events: number;
  taskMax: number;
  gzipLevel: number;
  s3Endpoint: string;
  region: string;
  serviceCredentials: { accessKeyId: string; secretAccessKey: string };
  /** The SecretBox key the configuration's secret was encrypted with, hex. */
  secretKeyHex: string;
}

/** Memory figures in bytes. */
export interface MemoryPeaks {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface ExporterResult {
  seconds: number;
  eventCount: number;
  jobs: number;
  /** process.memoryUsage() after a full GC, just before the run. */
  baseline: MemoryPeaks;
  /** The highest value of each figure sampled every 50 ms during the run. */
  sampledPeak: MemoryPeaks;
  /** The kernel's own peak RSS (VmHWM) over the run, reset just before it; undefined if /proc is unavailable. */
  kernelPeakRss?: number;
  /** process.memoryUsage() after the run and a full GC: what the run left behind. */
  after: MemoryPeaks;
}

function usage(): MemoryPeaks {
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
}

/** Resets the kernel's peak RSS of this process (Linux: `5` into clear_refs); false where unsupported. */
function resetKernelPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function kernelPeak(): number | undefined {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : undefined;
}

async function exportOnce(request: ExporterRequest): Promise<ExporterResult> {
  // The worker process's own V8 settings, so that this process measures what a worker is.
  applyWorkerRuntimeFlags();
  const prisma = createPrismaClient(request.databaseUrl);
  // The worker's defaults (EXPORT_TASK_CONCURRENCY, EXPORT_COMPRESSION_CONCURRENCY: src/config/env.ts, or
  // what the bench's environment sets), and its pool's size for them.
  const { EXPORT_TASK_CONCURRENCY: taskConcurrency, EXPORT_COMPRESSION_CONCURRENCY: compressionConcurrency } = parseEnv({ ...process.env, DATABASE_URL: request.databaseUrl });
  const pool = new Pool({ connectionString: request.databaseUrl, max: 2 + 2 * taskConcurrency + 2 });
  const secretBox = new SecretBox(Buffer.from(request.secretKeyHex, 'hex'));
  const awsClients = new AwsClientFactory(
    {
      stsRegion: request.region,
      forcePathStyle: true,
      s3Endpoint: request.s3Endpoint,
      stsEndpoint: request.s3Endpoint,
      serviceCredentials: request.serviceCredentials,
      requestTimeoutMs: 60_000,
    },
    secretBox,
  );
  try {
    const repository = new ExportJobRepository(prisma, pool);
    const uploader = new ExportTaskUploader(repository, { ...DEFAULT_UPLOADER_OPTIONS, gzipLevel: request.gzipLevel, concurrentTasks: taskConcurrency, compressionConcurrency });
    // As the worker builds it: a configuration with integrity validation also writes its digest.
    const digests = new ExportDigestWriter(
      repository,
      new ExportDigestChainRepository(prisma),
      new DigestSigningKeyService(new DigestSigningKeyRepository(prisma), secretBox),
      createLogger('silent'),
    );
    const runs = new ExportRunService(repository, uploader, digests, awsClients, { ...DEFAULT_RUN_OPTIONS, maxEventsPerTask: request.taskMax, taskConcurrency }, runLogger());
    await prisma.$connect();

    global.gc?.();
    const baseline = usage();
    const sampledPeak = { ...baseline };
    const hasKernelPeak = resetKernelPeak();
    const sampler = setInterval(() => {
      const now = usage();
      for (const key of Object.keys(now) as Array<keyof MemoryPeaks>) sampledPeak[key] = Math.max(sampledPeak[key], now[key]);
      if (process.env.BENCH_DEBUG && now.rss === sampledPeak.rss) {
        process.stderr.write(`  rss ${mib(now.rss)} heapUsed ${mib(now.heapUsed)}/${mib(now.heapTotal)} external ${mib(now.external)} arrayBuffers ${mib(now.arrayBuffers)}\n`);
      }
    }, 50); // not every 10 ms: process.memoryUsage() then costs the main thread about 3 %, and the peak that counts is the kernel's (VmHWM)
    const started = process.hrtime.bigint();
    const cpuBefore = process.cpuUsage();
    const machineBefore = machineCpuSeconds();
    const mainThreadBefore = mainThreadCpuSeconds();
    const outcome = await runs.run(request.configurationId, 'MANUAL');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    clearInterval(sampler);
    if (process.env.BENCH_DEBUG) {
      const cpu = process.cpuUsage(cpuBefore);
      process.stderr.write(
        `  exporter CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (all threads; main thread ${(mainThreadCpuSeconds() - mainThreadBefore).toFixed(2)} s), machine CPU busy ${(machineCpuSeconds() - machineBefore).toFixed(2)} s, wall ${seconds.toFixed(2)} s\n`,
      );
    }
    const kernelPeakRss = hasKernelPeak ? kernelPeak() : undefined;
    if (outcome.status !== 'succeeded' || outcome.eventCount !== request.events) throw new Error(`export did not succeed: ${JSON.stringify(outcome)}`);
    global.gc?.();
    return { seconds, eventCount: outcome.eventCount, jobs: outcome.jobIds.length, baseline, sampledPeak, kernelPeakRss, after: usage() };
  } finally {
    awsClients.destroy();
    await pool.end();
    await prisma.$disconnect();
  }
}

/** CPU seconds of this process's main (JavaScript) thread so far: its task's utime + stime. */
function mainThreadCpuSeconds(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds all cores of the machine spent busy so far (/proc/stat: everything but idle and iowait). */
function machineCpuSeconds(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const ticks = fields.map(Number);
  const busy = ticks.reduce((sum, value) => sum + value, 0) - ticks[3] - ticks[4];
  return busy / 100;
}

/** The run's own log lines on stderr with BENCH_DEBUG (when each step happened), none otherwise. */
function runLogger() {
  return process.env.BENCH_DEBUG ? createLogger('info', 'exporter', pino.destination(2)) : createLogger('silent');
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)}M`;

if (require.main === module) {
  if (!process.send) throw new Error('export-bench.exporter.ts is started by export.bench.ts (it needs an IPC channel)');
  process.once('message', (request: ExporterRequest) => {
    exportOnce(request).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (error: unknown) => process.send!({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1)),
    );
  });
}
