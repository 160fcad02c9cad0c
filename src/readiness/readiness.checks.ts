import type { Cluster, Redis } from 'ioredis';
import { createRedisClient, type RedisTarget } from '../config/redis-target';
import type { Logger } from '../common/logger';
import type { PrismaClient } from '../database/prisma';
import type { ReadinessCheck } from './readiness.service';

/** PostgreSQL answers a query through the service's own pool (Prisma's), the way requests reach it. */
export function postgresCheck(prisma: PrismaClient): ReadinessCheck {
  return async () => {
    await prisma.$queryRaw`SELECT 1`;
  };
}

/**
 * Every migration this build ships (`expected`, read from prisma/migrations at start-up) is
 * recorded as finished in `_prisma_migrations`: code running on an older schema fails in ways
 * that look like bugs. Migrations the database has and this build does not know (a newer
 * release's, during a rolling deploy) do not count against it.
 */
export function migrationsCheck(prisma: PrismaClient, expected: readonly string[]): ReadinessCheck {
  return async () => {
    const rows = await prisma.$queryRaw<Array<{ migration_name: string }>>`
      SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
    const applied = new Set(rows.map((row) => row.migration_name));
    const missing = expected.filter((name) => !applied.has(name));
    if (missing.length > 0) {
      const shown = missing.slice(0, 3).join(', ');
      throw new Error(`${missing.length} migration(s) not applied: ${shown}${missing.length > 3 ? ', …' : ''} (run npm run db:migrate)`);
    }
  };
}

/**
 * Redis answers PING on a connection of its own. BullMQ's connections queue commands while
 * Redis is away (they must: a blocking worker connection waits forever), so asking through them
 * would hang until Redis is back; this one has no offline queue and a short timeout, so a down
 * Redis is told at once, with the last connection error as the reason.
 */
export class RedisReadinessProbe {
  private readonly client: Redis | Cluster;
  private lastError: Error | undefined;

  constructor(
    /** A URL (one server) or a target that may be a Redis Cluster, whose PING goes to one of its nodes. */
    redis: string | RedisTarget,
    private readonly timeoutMs: number,
    logger: Pick<Logger, 'debug'>,
  ) {
    this.client = createRedisClient(typeof redis === 'string' ? { redisUrl: redis } : redis, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      // Reconnect at least every second (ioredis backs off to 5 s by default): /readyz should
      // turn 200 soon after Redis is back, and one connection attempt a second costs nothing.
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    });
    this.client.on('error', (error: Error) => {
      this.lastError = error;
      // The queue and the worker log Redis outages; here they are only the reason /readyz gives.
      logger.debug({ err: error }, 'readiness probe: Redis error');
    });
    this.client.on('ready', () => {
      this.lastError = undefined;
    });
  }

  readonly check: ReadinessCheck = async () => {
    if (this.client.status !== 'ready') {
      // Known to be failing: say so at once. Otherwise the connection is on its way (start-up, or
      // just lost and not yet retried): wait for it to connect or fail, within the bound.
      if (this.lastError) throw new Error(this.lastError.message);
      await this.connectedOrFailed();
    }
    const answer = await this.client.ping();
    if (answer !== 'PONG') throw new Error(`unexpected answer to PING: ${answer}`);
  };

  private connectedOrFailed(): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('error', onError);
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => settle();
      const onError = (error: Error) => settle(error);
      const timer = setTimeout(() => settle(new Error(`not connected within ${this.timeoutMs} ms (${this.client.status})`)), this.timeoutMs);
      this.client.once('ready', onReady);
      this.client.once('error', onError);
    });
  }

  close(): void {
    this.client.disconnect();
  }
}
