import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Env } from './env';

/**
 * Where Redis is: one server (REDIS_URL), or a Redis Cluster (REDIS_CLUSTER_NODES, issue #11),
 * whose startup nodes are listed and whose credentials and TLS still come from REDIS_URL. Every
 * Redis connection of the service (queues, workers, job schedulers, the readiness probe) is made
 * from one of these, so none can stay single-node by accident.
 */
export interface RedisTarget {
  redisUrl: string;
  /** Startup nodes of a Redis Cluster; unset for a single server. */
  redisClusterNodes?: ReadonlyArray<{ host: string; port: number }>;
}

export function redisTargetFromEnv(env: Pick<Env, 'REDIS_URL'> & Partial<Pick<Env, 'REDIS_CLUSTER_NODES'>>): RedisTarget {
  return { redisUrl: env.REDIS_URL, redisClusterNodes: env.REDIS_CLUSTER_NODES };
}

/** Per-node options of a cluster: credentials and TLS from REDIS_URL (its host and port are not used). */
function clusterNodeOptions(redisUrl: string): RedisOptions {
  const url = new URL(redisUrl);
  return {
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
}

/**
 * A client for `target` with `options`: a `Redis` for one server, a `Cluster` otherwise, which
 * finds the masters from the startup nodes and follows MOVED/ASK redirections. Options that are
 * the cluster's own (no offline queue) are set on it; the rest go to each node's connection.
 */
export function createRedisClient(target: RedisTarget, options: RedisOptions = {}): Redis | Cluster {
  if (!target.redisClusterNodes) return new Redis(target.redisUrl, options);
  const { enableOfflineQueue, retryStrategy, ...nodeOptions } = options;
  const clusterOptions: ClusterOptions = {
    redisOptions: { ...clusterNodeOptions(target.redisUrl), ...nodeOptions },
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy ? (times) => retryStrategy(times) : undefined,
  };
  return new Cluster([...target.redisClusterNodes], clusterOptions);
}

/**
 * Parses REDIS_CLUSTER_NODES: `host:port` pairs separated by commas. Returns the message of the
 * first bad entry instead of throwing, for the env schema to report.
 */
export function parseClusterNodes(text: string): Array<{ host: string; port: number }> | string {
  const nodes: Array<{ host: string; port: number }> = [];
  for (const entry of text.split(',').map((part) => part.trim())) {
    const match = /^(.+):(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : NaN;
    if (!match || port < 1 || port > 65535) return `"${entry}" is not host:port (REDIS_CLUSTER_NODES is a comma-separated list such as 10.0.0.1:6379,10.0.0.2:6379)`;
    nodes.push({ host: match[1].replace(/^\[(.*)\]$/, '$1'), port });
  }
  return nodes;
}
