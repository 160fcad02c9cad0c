import { Redis } from 'ioredis';
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
  private readonly client: Redis;
  private lastError: Error | undefined;

  constructor(redisUrl: string, timeoutMs: number, logger: Pick<Logger, 'debug'>) {
    this.client = new Redis(redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      // ioredis reconnects by itself (at most 2 s apart by default), so the probe recovers with Redis.
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
      throw new Error(this.lastError?.message ?? `not connected (${this.client.status})`);
    }
    const answer = await this.client.ping();
    if (answer !== 'PONG') throw new Error(`unexpected answer to PING: ${answer}`);
  };

  close(): void {
    this.client.disconnect();
  }
}
