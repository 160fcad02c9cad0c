import type { EventFilter } from '../delivery-format/event-filter';
import { EVENT_FILTER_FIELDS } from '../delivery-format/event-filter';
import type { ExportPartitioning } from '../generated/prisma/enums';
import { PARTITION_UNIT } from './export-object-key';

/**
 * SQL fragments of ExportJobRepository that choose a job's events (docs/delivery-formats.md): the
 * event filter, on the columns ingestion extracted from each body, and the event-time partition.
 * Nothing here parses a body: filtering costs a comparison of plain columns per event.
 *
 * Column names come from the fixed map below, never from input; values are bind parameters,
 * numbered from `firstParameter`, or (for COPY, which has none) literals escaped by the driver.
 */
const FILTER_COLUMN: Record<(typeof EVENT_FILTER_FIELDS)[number], string> = {
  actions: 'e.action',
  actionStatuses: 'e.action_status',
  targetTypes: 'e.target_type',
  auditPayloadTypes: 'e.payload_type',
};

export interface SqlFragment {
  /** Starts with " AND " when not empty, so it appends to a WHERE clause. */
  sql: string;
  parameters: unknown[];
}

/**
 * The filter's condition on `audit_events e`. Include: the field is in the list (an event without
 * it, NULL, is not). Exclude: the field is not in the list (an event without it is kept).
 */
export function eventFilterCondition(filter: EventFilter | null, firstParameter: number): SqlFragment {
  const parameters: unknown[] = [];
  const sql = filterConditionSql(filter, (values) => {
    parameters.push(values);
    return `$${firstParameter + parameters.length - 1}::text[]`;
  });
  return { sql, parameters };
}

/**
 * The same condition with its values written into the SQL as literals, for a statement that takes
 * no bind parameters (COPY). `quote` must be the driver's literal escaping (pg's escapeLiteral).
 */
export function inlineEventFilterCondition(filter: EventFilter | null, quote: (value: string) => string): string {
  return filterConditionSql(filter, (values) => `ARRAY[${values.map(quote).join(', ')}]::text[]`);
}

function filterConditionSql(filter: EventFilter | null, list: (values: string[]) => string): string {
  const conditions: string[] = [];
  for (const field of EVENT_FILTER_FIELDS) {
    const included = filter?.include?.[field];
    if (included && included.length > 0) conditions.push(`${FILTER_COLUMN[field]} = ANY(${list(included)})`);
    const excluded = filter?.exclude?.[field];
    if (excluded && excluded.length > 0) conditions.push(`(${FILTER_COLUMN[field]} IS NULL OR ${FILTER_COLUMN[field]} <> ALL(${list(excluded)}))`);
  }
  return conditions.map((condition) => ` AND ${condition}`).join('');
}

/** The start of an event's partition (timestamptz), or NULL for a partitioning not by event time. */
export function partitionStartExpression(partitioning: ExportPartitioning): string {
  const unit = PARTITION_UNIT[partitioning];
  // date_trunc's third argument (PostgreSQL 12+) truncates in UTC whatever the session's time zone.
  return unit ? `date_trunc('${unit.sqlUnit}', e.event_timestamp, 'UTC')` : 'NULL::timestamptz';
}
