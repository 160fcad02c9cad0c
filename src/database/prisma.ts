import { PrismaPg } from '@prisma/adapter-pg';
import type { Logger } from '../common/logger';
import { PrismaClient } from '../generated/prisma/client';
import { connectionErrorFields } from './connection-error';

export { PrismaClient };
export type { Prisma } from '../generated/prisma/client';

/**
 * Creates a Prisma client over node-postgres. Prisma 7 talks to PostgreSQL through this driver
 * adapter, so no native query engine is needed.
 *
 * The adapter listens to its pool's and its transactions' 'error' events itself (a connection
 * whose session ends is dropped, and the query on it fails), so a PostgreSQL restart fails the
 * queries in flight, never the process; `logger` is told about those connections.
 */
export function createPrismaClient(databaseUrl: string, logger?: Pick<Logger, 'warn'>): PrismaClient {
  const adapter = new PrismaPg(
    { connectionString: databaseUrl },
    logger && {
      onPoolError: (error) => logger.warn({ err: connectionErrorFields(error) }, 'an idle database connection failed; the pool dropped it'),
      onConnectionError: (error) => logger.warn({ err: connectionErrorFields(error) }, 'a database connection failed during a transaction'),
    },
  );
  return new PrismaClient({ adapter });
}

/** A Prisma interactive-transaction client, for repository methods that must join a transaction. */
export type PrismaTransaction = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];
