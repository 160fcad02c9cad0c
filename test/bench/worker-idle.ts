import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { WORKER_NODE_FLAGS } from '../../workers/worker-runtime';
import { compiledPath } from './bench-build';
import { createBenchDatabase } from './export-bench.run';

/** RSS figures of a process in bytes, from /proc/<pid>/status. */
export interface ProcessMemory {
  rss: number;
  peakRss: number;
}

function processMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
}

/**
 * The real worker process, `node dist/workers/export.worker.js` as `npm run start:worker` starts it
 * (from the bench's tsc build, with WORKER_NODE_FLAGS), on an empty database and a BullMQ prefix of
 * its own: its RSS once it has said "export worker started" (connected to PostgreSQL and Redis,
 * schedules reconciled, Prisma's query compiler instantiated), i.e. what it costs before any job.
 */
export async function measureIdleWorker(): Promise<ProcessMemory> {
  const database = await createBenchDatabase();
  const prefix = `audit-export-bench-worker-${randomBytes(4).toString('hex')}`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  // Without METRICS_PORT: the figure is the plain worker's (metrics load more modules).
  const { METRICS_PORT: _metricsPort, ...inherited } = process.env;
  const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, await compiledPath('workers/export.worker.js')], {
    env: {
      ...inherited,
      NODE_ENV: 'production',
      SECRET_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      BULLMQ_PREFIX: prefix,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  try {
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        if (line.includes('export worker started')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the worker exited (code ${code}) before it started`)));
    });
    // Let start-up's garbage settle, as it would before the first job arrives.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    return processMemory(child.pid!);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    const queue = createExportQueue({ redisUrl, prefix });
    await queue.obliterate({ force: true }).finally(() => queue.close());
    await database.drop();
  }
}
