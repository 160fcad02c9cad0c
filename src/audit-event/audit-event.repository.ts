import type { Pool } from 'pg';
import type { PrismaTransaction } from '../database/prisma';
import type { AuditEventRecord } from './audit-event.schema';

export interface InsertResult {
  /** Events stored by this call. */
  inserted: number;
  /** Events skipped because an event with the same id was already stored (or repeated in the batch). */
  duplicates: number;
}

/**
 * What an insert runs on: a Prisma transaction (a self-audit event, atomic with the change it
 * records), a Prisma client, or a pg pool (ingestion: the statement is atomic on its own, and a
 * pool skips Prisma's per-request work on ~1 MB of parameters).
 */
export type EventStoreExecutor = Pick<PrismaTransaction, '$queryRawUnsafe'> | Pick<Pool, 'query'>;

/**
 * One statement stores a batch. The events come as a few text parameters, not as one array per
 * column: the bodies and the ids and timestamps (validated, so they hold no newline) joined by
 * newlines and split by string_to_table, the free-text filter fields as JSON arrays. An array
 * parameter costs an escaping pass in pg and a parsing pass in PostgreSQL over every body; these
 * are sent as they are. JSON.stringify never writes a raw newline, so a body is never split.
 *
 * WITH ORDINALITY + ORDER BY keep the request's order in the sequence. Deduplication is exact
 * across partitions: the id is claimed first in `audit_event_ids`, whose primary key is the
 * arbiter (a concurrent insert of the same id waits for the other transaction and then skips it),
 * and only the claimed events are stored. An id repeated within the batch counts once: its first
 * occurrence is stored.
 */
const INSERT_EVENTS_SQL = `WITH input AS (
     SELECT DISTINCT ON (e.id::uuid) e.id::uuid AS id, e.action, e.event_timestamp, e.received_timestamp, e.body, e.action_status, e.target_type, e.payload_type, e.ord
       FROM ROWS FROM (
              string_to_table($1::text, E'\\n'),
              json_array_elements_text($2::json),
              string_to_table($3::text, E'\\n'),
              string_to_table($4::text, E'\\n'),
              string_to_table($5::text, E'\\n'),
              json_array_elements_text($6::json),
              json_array_elements_text($7::json),
              json_array_elements_text($8::json)
            ) WITH ORDINALITY AS e(id, action, event_timestamp, received_timestamp, body, action_status, target_type, payload_type, ord)
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
   SELECT count(*)::int AS inserted FROM stored`;

/** The audit event store. All writes go through here, never around it. */
export class AuditEventRepository {
  /**
   * Stores events in the given order, skipping ids that are already stored, in one statement
   * (INSERT_EVENTS_SQL).
   *
   * No lock: concurrent batches draw interleaved sequence values and may commit out of order. An
   * export never skips a late commit all the same, because it plans only up to the watermark
   * (AuditEventWatermarkRepository; docs/delivery-guarantees.md), below which every transaction
   * has finished. The one thing a writer must do for it, take its transaction id before it draws a
   * sequence value, is done by the column's default.
   */
  async insertMany(executor: EventStoreExecutor, events: readonly AuditEventRecord[]): Promise<InsertResult> {
    if (events.length === 0) return { inserted: 0, duplicates: 0 };
    const [actionStatuses, targetTypes, payloadTypes] = filterColumns(events);
    const parameters = [
      events.map((event) => event.id).join('\n'),
      JSON.stringify(events.map((event) => event.action)),
      events.map((event) => event.eventTimestamp.toISOString()).join('\n'),
      events.map((event) => event.receivedTimestamp.toISOString()).join('\n'),
      // The canonical text: serialised here, once; stored and delivered verbatim (the column is json, not jsonb).
      events.map((event) => canonicalEventText(event.body)).join('\n'),
      // The event filter's fields (docs/delivery-formats.md), so exports filter on columns, never on bodies.
      JSON.stringify(actionStatuses),
      JSON.stringify(targetTypes),
      JSON.stringify(payloadTypes),
    ];
    const rows =
      'query' in executor
        ? (await executor.query<{ inserted: number }>(INSERT_EVENTS_SQL, parameters)).rows
        : await executor.$queryRawUnsafe<Array<{ inserted: number }>>(INSERT_EVENTS_SQL, ...parameters);
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
