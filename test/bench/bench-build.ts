import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

/**
 * The measured processes (the exporter, the worker) run from a tsc build, as in production
 * (`npm run start:worker` runs `node dist/workers/export.worker.js`), never under tsx: tsx's
 * loader, esbuild and the source maps of every module add about 60 MB of RSS to a process.
 * Built once per `npm run bench` into bench-results/build (gitignored); the orchestrator passes the
 * directory on in BENCH_BUILD_DIR so that its sections do not build again.
 */
const ROOT = path.join(__dirname, '..', '..');
let building: Promise<string> | undefined;

export function buildForBench(): Promise<string> {
  if (process.env.BENCH_BUILD_DIR) return Promise.resolve(process.env.BENCH_BUILD_DIR);
  building ??= (async () => {
    const outDir = path.join(ROOT, 'bench-results', 'build');
    process.stderr.write(`bench: compiling the project with tsc into ${path.relative(ROOT, outDir)} (measured processes run compiled, as in production)\n`);
    const tsc = spawn(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', outDir], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const [code] = (await once(tsc, 'exit')) as [number];
    if (code !== 0) throw new Error(`tsc failed (exit ${code})`);
    process.env.BENCH_BUILD_DIR = outDir;
    return outDir;
  })();
  return building;
}

/** The compiled file of a path relative to the repository root, e.g. `workers/export.worker.js`. */
export async function compiledPath(relative: string): Promise<string> {
  return path.join(await buildForBench(), relative);
}
