import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings of a worker process, applied first thing by workers/export.worker.ts (and by the
 * export bench's exporter, which measures the same process). Measured in docs/benchmarks.md.
 *
 * `--liftoff-only`: Prisma 7's query compiler is a WebAssembly module instantiated at the first
 * connection. By default V8 compiles it with Liftoff and then again with TurboFan in the
 * background, and keeps both: about 37 MB of RSS before the first row (146 -> 109 MB for the
 * worker's modules plus a connected Prisma client). A worker asks Prisma for a handful of small
 * queries per task, so the optimised code buys nothing there, while every byte of RSS is a byte
 * less for the rows. The API process keeps the default (it compiles a query per GraphQL request).
 * Compilation flags take effect for modules compiled after they are set, so this must run before
 * the first Prisma query.
 */
export function applyWorkerRuntimeFlags(): void {
  setFlagsFromString('--liftoff-only');
}

/**
 * Node flags a worker process is started with (`npm run start:worker`; the bench's exporter gets
 * the same): those V8 reads only when the process starts, so they cannot be set from inside.
 */
export const WORKER_NODE_FLAGS: readonly string[] = [];
