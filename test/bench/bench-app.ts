import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { compiledPath } from './bench-build';

/** The API in a process of its own (bench-app.server.ts), compiled, on a database of the bench's. */
export interface BenchApp {
  url: string;
  /** `Bearer`-less API key with AUDIT and INGEST. */
  key: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startBenchApp(databaseUrl: string, env: Record<string, string> = {}): Promise<BenchApp> {
  // A BullMQ namespace of its own, removed on stop: starting, the API writes a job scheduler per
  // configuration into Redis (1,000 in the graphql section).
  const prefix = `audit-export-bench-${randomBytes(4).toString('hex')}`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  // BENCH_APP_NODE_FLAGS: Node flags for the API process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where a request's time goes.
  const nodeFlags = (process.env.BENCH_APP_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
  const child = spawn(process.execPath, [...nodeFlags, await compiledPath('test/bench/bench-app.server.js')], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      // A key of this run only: the bench's configurations are thrown away with its database.
      SECRET_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      BULLMQ_PREFIX: prefix,
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const { url, key } = await new Promise<{ url: string; key: string }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { url: string; key: string }));
    child.once('exit', (code) => reject(new Error(`bench app server exited (code ${code}) before listening`)));
  });
  return {
    url,
    key,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      const queue = createExportQueue({ redisUrl, prefix });
      await queue.obliterate({ force: true }).finally(() => queue.close());
    },
  };
}
