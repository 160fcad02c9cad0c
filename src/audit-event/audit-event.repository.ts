import type { PrismaTransaction } from '../database/prisma';
import type { AuditEventRecord } from './audit-event.schema';

/**
 * Key of the transaction-level advisory lock every insert into `audit_events` takes first
 * ('audi' in ASCII). The export cursor relies on it; see {@link AuditEventRepository.insertMany}.
 * One-key (bigint) advisory locks never collide with the two-key (int, int) locks of
 * export runs: PostgreSQL keeps the two key spaces apart.
 */
export const AUDIT_EVENT_INSERT_LOCK = 0x61756469;

export interface InsertResult {
  /** Events stored by this call. */
  inserted: number;
  /** Events skipped because an event with the same id was already stored (or repeated in the batch). */
  duplicates: number;
}

/** The audit event store. All writes go through here, never around it. */
export class AuditEventRepository {
  /**
   * Stores events in the given order, skipping ids that are already stored.
   *
   * Why the advisory lock: `sequence` is a bigserial, and `nextval()` is handed out at insert time,
   * not at commit time. Without the lock, a transaction that drew sequence 100 could commit after
   * one that drew 101; an export run in between would see 101, advance its cursor past it, and
   * never export 100. Taking `pg_advisory_xact_lock` before drawing any sequence value makes inserts
   * one at a time until commit, so sequence order is commit order and the committed events always
   * form a prefix of the sequence: whatever `max(sequence)` a run reads, every smaller sequence is
   * already committed (or was rolled back and will never appear). The lock is released by COMMIT
   * or ROLLBACK, so a crashed client cannot hold it.
   *
   * Must run inside a transaction (`tx`), which should commit soon after: the lock serialises all
   * ingestion until then.
   */
  async insertMany(tx: PrismaTransaction, events: readonly AuditEventRecord[]): Promise<InsertResult> {
    if (events.length === 0) return { inserted: 0, duplicates: 0 };
    await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${AUDIT_EVENT_INSERT_LOCK})`);
    // One statement for the whole batch; WITH ORDINALITY + ORDER BY keep the request's order in
    // the sequence. ON CONFLICT (id) DO NOTHING also skips an id repeated within the batch.
    const rows = await tx.$queryRawUnsafe<Array<{ inserted: bigint }>>(
      `WITH stored AS (
         INSERT INTO audit_events (id, action, event_timestamp, received_timestamp, body, action_status, target_type, payload_type)
         SELECT e.id::uuid, e.action, e.event_timestamp::timestamptz, e.received_timestamp::timestamptz, e.body::json, e.action_status, e.target_type, e.payload_type
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                WITH ORDINALITY AS e(id, action, event_timestamp, received_timestamp, body, action_status, target_type, payload_type, ord)
          ORDER BY e.ord
         ON CONFLICT (id) DO NOTHING
         RETURNING 1
       )
       SELECT count(*) AS inserted FROM stored`,
      events.map((event) => event.id),
      events.map((event) => event.action),
      events.map((event) => event.eventTimestamp.toISOString()),
      events.map((event) => event.receivedTimestamp.toISOString()),
      // The canonical text: serialised here, once; stored and delivered verbatim (the column is json, not jsonb).
      events.map((event) => canonicalEventText(event.body)),
      // The event filter's fields (docs/delivery-formats.md), so exports filter on columns, never on bodies.
      ...filterColumns(events),
    );
    const inserted = Number(rows[0]?.inserted ?? 0);
    return { inserted, duplicates: events.length - inserted };
  }
}

/**
 * The canonical JSON text of an event as the service stores and delivers it: JSON.stringify of the
 * validated event: UAM's fields in the model's order (audit-event.schema.ts), then unknown fields
 * in the producer's order; numbers as JavaScript writes them (`1.0e3` becomes `1000`); no
 * insignificant whitespace; non-ASCII characters as themselves.
 */
export function canonicalEventText(body: Record<string, unknown>): string {
  return JSON.stringify(body);
}

/** The event filter's columns of each event: actionStatus, targetType, auditPayload.type (null when absent or not a string). */
function filterColumns(events: readonly AuditEventRecord[]): [Array<string | null>, Array<string | null>, Array<string | null>] {
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return [
    events.map((event) => text(event.body.actionStatus)),
    events.map((event) => text(event.body.targetType)),
    events.map((event) => text((event.body.auditPayload as { type?: unknown } | undefined)?.type)),
  ];
}
