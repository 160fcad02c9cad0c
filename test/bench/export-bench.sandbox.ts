import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** The sandbox S3 + STS, running in its own process (`sandbox/main.ts`). */
export interface SandboxProcess {
  endpoint: string;
  pid: number;
  /** The sandbox's request log (its last 10,000 requests), from its control API. */
  requests(): Promise<Array<{ operation: string; status: number }>>;
  /** Stops the process and removes its data directory. */
  stop(): Promise<void>;
}

const MAIN = path.join(__dirname, '..', '..', 'sandbox', 'main.ts');

/**
 * Starts `sandbox/main.ts` on a free port with its data in a fresh temporary directory. In a
 * separate process so that its request buffering and object storage never count in the exporter's
 * memory, and so that it does not share the exporter's event loop.
 */
export async function startSandboxProcess(): Promise<SandboxProcess> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'audit-export-bench-sandbox-'));
  // process.execArgv carries tsx's loader, so the child runs TypeScript like this process does.
  const child = spawn(process.execPath, [...process.execArgv, MAIN], {
    env: { ...process.env, SANDBOX_PORT: '0', SANDBOX_HOST: '127.0.0.1', SANDBOX_DATA_DIR: dataDir, SANDBOX_VERBOSE: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  let endpoint: string;
  try {
    endpoint = await new Promise<string>((resolve, reject) => {
      let output = '';
      const onData = (data: Buffer) => {
        output += data.toString();
        // main.ts prints the endpoint it really listens on (SANDBOX_PORT=0 picks any free port).
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) {
          child.stdout.off('data', onData);
          child.stdout.resume();
          resolve(match[1]);
        }
      };
      child.stdout.on('data', onData);
      child.once('exit', (code) => reject(new Error(`sandbox exited (code ${code}) before listening:\n${output}`)));
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  let stopped = false;
  return {
    endpoint,
    pid: child.pid!,
    requests: async () => {
      const response = await fetch(`${endpoint}/_sandbox/requests`);
      if (!response.ok) throw new Error(`sandbox request log: HTTP ${response.status}`);
      return (await response.json()) as Array<{ operation: string; status: number }>;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
