import type { PrismaClient, PrismaTransaction } from '../database/prisma';

/** A stored key: what it was first used for, and what that request created. */
export interface IdempotencyKeyRow {
  scope: string;
  key: string;
  operation: string;
  requestFingerprint: string;
  /** Null once the configuration is deleted (ON DELETE SET NULL): the key stays used. */
  configurationId: string | null;
  createdAt: Date;
}

/** Expired rows one insert deletes at most, so cleanup never makes a create slow. */
const CLEANUP_BATCH = 100;

/**
 * Storage of `idempotency_keys`; the only code that queries it. A key is unique per scope (the
 * API key's user), whatever the operation, so a key reused for another mutation is seen as a
 * conflict rather than as a new request.
 *
 * Expiry: a row older than the cutoff the caller passes no longer counts. Such rows are deleted
 * by {@link claim}, so no timer or job is needed: the row in the way of the key being claimed,
 * and a bounded batch of other expired rows.
 */
export class IdempotencyKeyRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** The row for (scope, key) if it was created after `notBefore`; older rows are as good as absent. */
  async findActive(scope: string, key: string, notBefore: Date): Promise<IdempotencyKeyRow | null> {
    return this.prisma.idempotencyKey.findFirst({ where: { scope, key, createdAt: { gte: notBefore } } });
  }

  /**
   * Records the key in the caller's transaction (the one that creates the configuration), so the
   * key and what it created commit together or not at all. False when the key is already taken:
   * `ON CONFLICT DO NOTHING` waits for a concurrent transaction holding the same key to end, so
   * when two requests race, exactly one claims it; the caller must then roll back, and can read
   * the winner's row once its own transaction is over.
   */
  async claim(tx: PrismaTransaction, row: Omit<IdempotencyKeyRow, 'createdAt'>, now: Date, notBefore: Date): Promise<boolean> {
    // An expired row would hold the key's primary key: remove it (only if still expired).
    await tx.idempotencyKey.deleteMany({ where: { scope: row.scope, key: row.key, createdAt: { lt: notBefore } } });
    // Opportunistic cleanup, bounded; SKIP LOCKED: never wait for another create's cleanup.
    await tx.$executeRaw`
      DELETE FROM idempotency_keys
       WHERE (scope, key) IN (
         SELECT scope, key FROM idempotency_keys
          WHERE created_at < ${notBefore}
          ORDER BY created_at
          LIMIT ${CLEANUP_BATCH}
          FOR UPDATE SKIP LOCKED)`;
    const { count } = await tx.idempotencyKey.createMany({ data: [{ ...row, createdAt: now }], skipDuplicates: true });
    return count === 1;
  }
}
