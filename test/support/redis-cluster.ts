import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitUntil, withRedisClient } from './redis-server';

/**
 * A real three-master Redis Cluster of a test's own (issue #11): three `redis-server
 * --cluster-enabled yes` processes on free loopback ports, joined by `redis-cli --cluster create`,
 * nothing kept on disk. The shared Redis on 6379 is never touched.
 */
export interface TestRedisCluster {
  /** The startup nodes as REDIS_CLUSTER_NODES wants them: `127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`. */
  nodes: string;
  ports: number[];
  /** FLUSHALL on every master while everything keeps running (a wiped or replaced cluster). */
  flush(): Promise<void>;
  /** Stops the three servers and removes their directories. */
  close(): Promise<void>;
}

export async function startTestRedisCluster(): Promise<TestRedisCluster> {
  const ports: number[] = [];
  // Distinct ports: freePort only promises a port free now, so ask until three differ.
  while (ports.length < 3) {
    const port = await freePort();
    // The cluster bus listens on port + 10000, which must be a valid port too.
    if (!ports.includes(port) && port + 10_000 <= 65_535) ports.push(port);
  }
  const dir = mkdtempSync(join(tmpdir(), 'audit-export-redis-cluster-'));
  const children: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    ),
  );
  const close = async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) await waitUntil(() => answers(port), 10_000, `cluster node on port ${port} to answer`);
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (exit ${create.status}):\n${create.stdout}\n${create.stderr}`);
    await waitUntil(async () => (await Promise.all(ports.map(clusterStateOk))).every(Boolean), 30_000, 'cluster_state:ok on every node');
  } catch (error) {
    await close();
    throw error;
  }
  return {
    nodes: ports.map((port) => `127.0.0.1:${port}`).join(','),
    ports,
    async flush() {
      for (const port of ports) await withRedisClient(port, (client) => client.flushall());
    },
    close,
  };
}

async function withNode<T>(port: number, work: (client: Redis) => Promise<T>, fallback: T): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } catch {
    return fallback;
  } finally {
    client.disconnect();
  }
}

function answers(port: number): Promise<boolean> {
  return withNode(port, async (client) => (await client.ping()) === 'PONG', false);
}

function clusterStateOk(port: number): Promise<boolean> {
  return withNode(port, async (client) => /cluster_state:ok/.test(String(await client.call('CLUSTER', 'INFO'))), false);
}
