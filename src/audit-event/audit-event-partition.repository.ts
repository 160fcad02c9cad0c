import type { PrismaClient, PrismaTransaction } from '../database/prisma';
import { FINAL_SEQUENCE_SQL } from './audit-event-watermark.repository';

/** The default partition: a safety net for events beyond the partitions made ahead of time. */
export const DEFAULT_PARTITION = 'audit_events_default';

/**
 * Key of the transaction-level advisory lock taken by every change to the partitions ('part'), so
 * that the maintenance of several worker processes takes turns instead of failing on each other.
 */
const PARTITION_DDL_LOCK = 0x70617274;

/** A range partition of audit_events: the events with fromSequence <= sequence < toSequence. */
export interface EventPartition {
  name: string;
  /** null for the first partition, which starts at MINVALUE. */
  fromSequence: bigint | null;
  toSequence: bigint;
}

/** A partition whose every sequence value is final: no event can be added to it any more. */
export interface ClosedPartition extends EventPartition {
  /** Its newest event (null when it holds none: every value was rolled back or never drawn). */
  lastEvent: { sequence: bigint; receivedAt: Date } | null;
}

/** Room for the lock timeouts below, which Prisma's default transaction timeout (5 s) would cut short. */
export const DDL_TRANSACTION = { timeout: 60_000, maxWait: 10_000 };

const partitionName = (fromSequence: bigint) => `audit_events_${fromSequence.toString().padStart(19, '0')}`;

/**
 * The partitions of audit_events (docs/event-store.md), by ranges of `sequence`: the export queries
 * ask for `sequence > a AND sequence <= b`, which PostgreSQL prunes to the one or two partitions
 * that hold the range, so an export's cost does not grow with the table. The event store owns
 * them: they are created here, ahead of ingestion, and dropped here for retention.
 */
export class AuditEventPartitionRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** The range partitions, oldest first (the default partition is not among them). */
  async list(client: PrismaClient | PrismaTransaction = this.prisma): Promise<EventPartition[]> {
    const rows = await client.$queryRaw<Array<{ name: string; bound: string }>>`
      SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'audit_events'::regclass`;
    const partitions: EventPartition[] = [];
    for (const row of rows) {
      if (row.bound === 'DEFAULT') continue;
      const match = /^FOR VALUES FROM \((MINVALUE|'?(-?\d+)'?)\) TO \('?(-?\d+)'?\)$/.exec(row.bound);
      if (!match) throw new Error(`Unexpected bound of partition ${row.name}: ${row.bound}`);
      partitions.push({ name: row.name, fromSequence: match[2] === undefined ? null : BigInt(match[2]), toSequence: BigInt(match[3]) });
    }
    return partitions.sort((a, b) => (a.toSequence < b.toSequence ? -1 : 1));
  }

  /**
   * Makes sure partitions of `size` sequence values exist from the last one up to `ahead` sizes
   * past the last value drawn, so inserts land in range partitions, not in the default one. Returns
   * the partitions created.
   */
  async ensureAhead(size: number, ahead: number): Promise<string[]> {
    const created: string[] = [];
    for (;;) {
      const name = await this.prisma.$transaction(async (tx) => {
        if (!(await tryLock(tx))) return null;
        const partitions = await this.list(tx);
        const [drawn] = await tx.$queryRaw<Array<{ sequence: bigint }>>`
          SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS sequence FROM audit_events_sequence_seq`;
        const from = partitions.at(-1)?.toSequence ?? 1n;
        if (from > drawn.sequence + BigInt(size) * BigInt(ahead)) return null;
        return this.createPartition(tx, from, from + BigInt(size));
      }, DDL_TRANSACTION);
      if (!name) return created;
      created.push(name);
    }
  }

  /**
   * A new partition for [from, to). Events the default partition took in that range (inserts that
   * ran ahead of the maintenance) move into it in the same transaction, so the attach finds none
   * left behind; the default partition is locked meanwhile, which holds up only inserts that would
   * land there too.
   */
  private async createPartition(tx: PrismaTransaction, from: bigint, to: bigint): Promise<string> {
    const name = partitionName(from);
    await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '10s'`);
    await tx.$executeRawUnsafe(`CREATE TABLE "${name}" (LIKE audit_events INCLUDING DEFAULTS INCLUDING STORAGE)`);
    await tx.$executeRawUnsafe(`LOCK TABLE "${DEFAULT_PARTITION}" IN ACCESS EXCLUSIVE MODE`);
    await tx.$executeRawUnsafe(
      `WITH moved AS (DELETE FROM "${DEFAULT_PARTITION}" WHERE sequence >= ${from} AND sequence < ${to} RETURNING *) INSERT INTO "${name}" SELECT * FROM moved`,
    );
    // ATTACH (not CREATE ... PARTITION OF) takes only a SHARE UPDATE EXCLUSIVE lock on audit_events:
    // ingestion and exports go on. The check constraint spares it a scan of the new table.
    await tx.$executeRawUnsafe(`ALTER TABLE "${name}" ADD CONSTRAINT "${name}_range" CHECK (sequence >= ${from} AND sequence < ${to})`);
    await tx.$executeRawUnsafe(`ALTER TABLE audit_events ATTACH PARTITION "${name}" FOR VALUES FROM (${from}) TO (${to})`);
    await tx.$executeRawUnsafe(`ALTER TABLE "${name}" DROP CONSTRAINT "${name}_range"`);
    return name;
  }

  /**
   * The partitions below the watermark, oldest first, each with its newest event: every sequence
   * value of theirs is final (docs/delivery-guarantees.md), so what they hold will not change.
   */
  async closed(): Promise<ClosedPartition[]> {
    const [row] = await this.prisma.$queryRawUnsafe<Array<{ final: bigint | null }>>(`SELECT ${FINAL_SEQUENCE_SQL} AS final`);
    if (row.final === null) return [];
    const final = row.final;
    const closed: ClosedPartition[] = [];
    for (const partition of await this.list()) {
      if (partition.toSequence - 1n > final) break;
      const [last] = await this.prisma.$queryRawUnsafe<Array<{ sequence: bigint; received_timestamp: Date }>>(
        `SELECT sequence, received_timestamp FROM "${partition.name}" ORDER BY sequence DESC LIMIT 1`,
      );
      closed.push({ ...partition, lastEvent: last ? { sequence: last.sequence, receivedAt: last.received_timestamp } : null });
    }
    return closed;
  }

  /**
   * Drops a partition inside the caller's transaction (the retention decision's), or returns false
   * when another process is changing partitions. Dropping locks audit_events exclusively for a
   * moment; the lock timeout keeps a long export stream from holding ingestion up behind the drop
   * (the pass gives up and tries again next period).
   */
  async drop(tx: PrismaTransaction, partition: EventPartition): Promise<boolean> {
    if (!(await tryLock(tx))) return false;
    await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '2s'`);
    await tx.$executeRawUnsafe(`DROP TABLE "${partition.name}"`);
    return true;
  }

  /** The events of a partition after `cursor`: how many, and their first and last sequence. */
  async countAfter(tx: PrismaTransaction, partition: EventPartition, cursor: bigint): Promise<{ count: number; from: bigint; to: bigint } | null> {
    const [row] = await tx.$queryRawUnsafe<Array<{ count: bigint; first: bigint | null; last: bigint | null }>>(
      `SELECT count(*) AS count, min(sequence) AS first, max(sequence) AS last FROM "${partition.name}" WHERE sequence > $1`,
      cursor,
    );
    return row.first === null || row.last === null ? null : { count: Number(row.count), from: row.first, to: row.last };
  }
}

async function tryLock(tx: PrismaTransaction): Promise<boolean> {
  const [row] = await tx.$queryRawUnsafe<Array<{ locked: boolean }>>(`SELECT pg_try_advisory_xact_lock(${PARTITION_DDL_LOCK}) AS locked`);
  return row.locked;
}
