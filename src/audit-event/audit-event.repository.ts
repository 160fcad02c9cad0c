import type { PrismaTransaction } from '../database/prisma';
import type { AuditEventRecord } from './audit-event.schema';

export interface InsertResult {
  /** Events stored by this call. */
  inserted: number;
  /** Events skipped because an event with the same id was already stored (or repeated in the batch). */
  duplicates: number;
}

/** The audit event store. All writes go through here, never around it. */
export class AuditEventRepository {
  /**
   * Stores events in the given order, skipping ids that are already stored, in one statement.
   *
   * No lock: concurrent batches draw interleaved sequence values and may commit out of order. An
   * export never skips a late commit all the same, because it plans only up to the watermark
   * (AuditEventWatermarkRepository; docs/delivery-guarantees.md), below which every transaction
   * has finished. The one thing a writer must do for it, take its transaction id before it draws a
   * sequence value, is done by the column's default.
   *
   * Deduplication is exact across partitions: the id is claimed first in `audit_event_ids`, whose
   * primary key is the arbiter (a concurrent insert of the same id waits for the other transaction
   * and then skips it), and only the claimed events are stored. An id repeated within the batch
   * counts once: its first occurrence is stored.
   */
  async insertMany(tx: PrismaTransaction, events: readonly AuditEventRecord[]): Promise<InsertResult> {
    if (events.length === 0) return { inserted: 0, duplicates: 0 };
    // WITH ORDINALITY + ORDER BY keep the request's order in the sequence.
    const rows = await tx.$queryRawUnsafe<Array<{ inserted: bigint }>>(
      `WITH input AS (
         SELECT DISTINCT ON (e.id::uuid) e.id::uuid AS id, e.action, e.event_timestamp, e.received_timestamp, e.body, e.action_status, e.target_type, e.payload_type, e.ord
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                WITH ORDINALITY AS e(id, action, event_timestamp, received_timestamp, body, action_status, target_type, payload_type, ord)
          ORDER BY e.id::uuid, e.ord
       ),
       claimed AS (
         INSERT INTO audit_event_ids (id) SELECT id FROM input ORDER BY ord ON CONFLICT (id) DO NOTHING RETURNING id
       ),
       stored AS (
         INSERT INTO audit_events (id, action, event_timestamp, received_timestamp, body, action_status, target_type, payload_type)
         SELECT i.id, i.action, i.event_timestamp::timestamptz, i.received_timestamp::timestamptz, i.body::json, i.action_status, i.target_type, i.payload_type
           FROM input i JOIN claimed c ON c.id = i.id
          ORDER BY i.ord
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
