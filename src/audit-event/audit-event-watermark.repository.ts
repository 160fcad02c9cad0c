import type { PrismaClient } from '../database/prisma';

/**
 * The highest sequence up to which every event is final (committed and visible, or rolled back for
 * good), in the snapshot of the statement it is part of: the upper bound of every export plan.
 * NULL until a tick is usable. docs/delivery-guarantees.md ("Ingestion without a global lock").
 */
export const FINAL_SEQUENCE_SQL = `(SELECT max(w.sequence) FROM audit_event_watermarks w WHERE w.xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint)`;

/**
 * How long {@link AuditEventWatermarkRepository.advance} waits at most for its tick, by default.
 * Ingest transactions last milliseconds, but a large batch on a loaded server, or any other writing
 * transaction of the cluster, can last seconds: 5 s proved too short (a requested run then missed
 * events ingested just before the request and left them to the next scheduled run, hours later).
 * Half a minute is nothing against an interval of hours, and a longer transaction still only
 * delays its events to a later run.
 */
export const DEFAULT_WATERMARK_WAIT_MS = 30_000;

const POLL_MS = 5;

/**
 * Watermark ticks over the event sequence, which let ingestion run without a global lock while an
 * export still never skips an event that commits late.
 *
 * A tick reads the last sequence value drawn (L), and only then takes a transaction id (X) for
 * itself. Every writer has its transaction id before it draws a value (the column default,
 * audit_event_next_sequence(), makes it so), so a transaction that drew a value ≤ L has an id < X.
 * Once the oldest transaction still in flight is younger than X (`X < pg_snapshot_xmin`), every
 * one of them has finished, and the events up to L are all there is, for good: nothing can be
 * added below L any more. {@link FINAL_SEQUENCE_SQL} is the largest such L.
 */
export class AuditEventWatermarkRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Records a tick and waits until it is usable, up to `maxWaitMs`; returns whether it became
   * usable. When a transaction older than the tick stays open longer (a slow writer, or any
   * long-running writing transaction of the cluster: transaction ids are cluster-wide), plans use
   * the newest usable older tick meanwhile: exports are delayed, never skip anything.
   */
  async advance(maxWaitMs: number = DEFAULT_WATERMARK_WAIT_MS): Promise<boolean> {
    const xid = await this.recordTick();
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const [row] = await this.prisma.$queryRaw<Array<{ usable: boolean }>>`SELECT ${xid}::bigint < pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS usable`;
      if (row.usable) {
        await this.pruneTicks();
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** The sequence every event up to which is final now (0 when none is known yet). */
  async finalSequence(): Promise<bigint> {
    const [row] = await this.prisma.$queryRawUnsafe<Array<{ sequence: bigint | null }>>(`SELECT ${FINAL_SEQUENCE_SQL} AS sequence`);
    return row.sequence ?? 0n;
  }

  /** Two statements, in this order: the sequence is read before the transaction id is taken. */
  private async recordTick(): Promise<bigint> {
    return this.prisma.$transaction(async (tx) => {
      const [drawn] = await tx.$queryRaw<Array<{ sequence: bigint }>>`
        SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS sequence FROM audit_events_sequence_seq`;
      const [tick] = await tx.$queryRaw<Array<{ xid: bigint }>>`
        INSERT INTO audit_event_watermarks (xid, sequence) VALUES (pg_current_xact_id()::text::bigint, ${drawn.sequence}) RETURNING xid`;
      return tick.xid;
    });
  }

  /**
   * Usable ticks below the best usable one say nothing more; ticks not usable yet stay. Concurrent
   * prunes cannot remove the best one: it is below no usable tick.
   */
  private async pruneTicks(): Promise<void> {
    await this.prisma.$executeRawUnsafe(
      `DELETE FROM audit_event_watermarks WHERE xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint AND sequence < ${FINAL_SEQUENCE_SQL}`,
    );
  }
}
