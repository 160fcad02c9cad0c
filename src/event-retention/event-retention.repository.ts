import type { PrismaClient, PrismaTransaction } from '../database/prisma';

/** What a configuration lost to retention, over all the partitions dropped before it exported them. */
export interface MissedEventsRow {
  configurationId: string;
  count: number;
  fromSequence: bigint;
  toSequence: bigint;
  /** When the last of those partitions was dropped. */
  droppedAt: Date;
}

/** A configuration as the retention decision sees it. */
export interface RetentionConfiguration {
  id: string;
  enabled: boolean;
  cursor: bigint;
}

/** The retention feature's own table, event_retention_misses, and the reads its decision needs. */
export class EventRetentionRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Every configuration, locked (FOR SHARE) until the caller's transaction ends: a cursor cannot
   * move, nor a configuration be enabled, between the decision and the drop it leads to.
   */
  async lockConfigurations(tx: PrismaTransaction): Promise<RetentionConfiguration[]> {
    return tx.$queryRaw<RetentionConfiguration[]>`SELECT id::text AS id, enabled, cursor FROM export_configurations ORDER BY id FOR SHARE`;
  }

  /** The smallest cursor of the enabled configurations (null: none is enabled). */
  async slowestEnabledCursor(): Promise<bigint | null> {
    const [row] = await this.prisma.$queryRaw<Array<{ cursor: bigint | null }>>`SELECT min(cursor) AS cursor FROM export_configurations WHERE enabled`;
    return row.cursor;
  }

  /** Once per configuration and partition: a pass retried after a failure records nothing twice. */
  async recordMiss(
    tx: PrismaTransaction,
    miss: { configurationId: string; partitionName: string; count: number; fromSequence: bigint; toSequence: bigint; droppedAt: Date },
  ): Promise<void> {
    await tx.$executeRaw`
      INSERT INTO event_retention_misses (configuration_id, partition_name, from_sequence, to_sequence, event_count, dropped_at)
      VALUES (${miss.configurationId}::uuid, ${miss.partitionName}, ${miss.fromSequence}, ${miss.toSequence}, ${miss.count}, ${miss.droppedAt})
      ON CONFLICT (configuration_id, partition_name) DO NOTHING`;
  }

  /** The missed events of every configuration that missed any, in one query. */
  async missedEvents(): Promise<MissedEventsRow[]> {
    const rows = await this.prisma.$queryRaw<Array<{ configuration_id: string; count: bigint; from_sequence: bigint; to_sequence: bigint; dropped_at: Date }>>`
      SELECT configuration_id::text, sum(event_count) AS count, min(from_sequence) AS from_sequence, max(to_sequence) AS to_sequence, max(dropped_at) AS dropped_at
        FROM event_retention_misses GROUP BY configuration_id`;
    return rows.map((row) => ({
      configurationId: row.configuration_id,
      count: Number(row.count),
      fromSequence: row.from_sequence,
      toSequence: row.to_sequence,
      droppedAt: row.dropped_at,
    }));
  }
}
