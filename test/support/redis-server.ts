import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from './wait';

/**
 * A real redis-server of a test's own, on a free loopback port, that the test may stop, start
 * again on the same port, and flush: fault tests must not touch the shared Redis on 6379.
 * Nothing is kept on disk (as on the project's machines), so a restart starts empty.
 */
export interface TestRedisServer {
  url: string;
  port: number;
  /** Kills the server (SIGKILL, like a crash or a lost host) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty, and waits until it answers PING (a no-op while it runs). */
  start(): Promise<void>;
  /** FLUSHALL while everything keeps running (a replaced or wiped Redis). */
  flush(): Promise<void>;
  /** The server's CLIENT LIST, one line per connection, without the connection that asks. */
  otherClients(): Promise<string[]>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

export async function startTestRedisServer(): Promise<TestRedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'audit-export-redis-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    // Already running: a second server could not bind the port, and would hide the first one.
    if (child && child.exitCode === null && child.signalCode === null) return;
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await waitUntil(async () => ping(port), 10_000, `redis-server on port ${port} to answer`);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async flush() {
      await withRedisClient(port, (client) => client.flushall());
    },
    async otherClients() {
      return withRedisClient(port, async (client) => {
        const [own, list] = await Promise.all([client.client('ID'), client.client('LIST') as Promise<string>]);
        return list.split('\n').filter((line) => line !== '' && !line.startsWith(`id=${own} `));
      });
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function ping(port: number): Promise<boolean> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it is true; fails with `what` after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  await eventually(what, async () => ((await check()) ? true : undefined), timeoutMs, everyMs);
}

/** Runs `work` on a connection of its own to the Redis on loopback `port`, then disconnects it. */
export async function withRedisClient<T>(port: number, work: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    return await work(client);
  } finally {
    client.disconnect();
  }
}
