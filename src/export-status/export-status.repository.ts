import type { PrismaClient } from '../database/prisma';
import type { ExportInterval } from '../generated/prisma/enums';

/** A configuration's delivery status, as one row of {@link ExportStatusRepository.list}. */
export interface ExportStatusRow {
  id: string;
  enabled: boolean;
  connectionStatus: string;
  interval: ExportInterval;
  bucket: string;
  path: string | null;
  cursor: bigint;
  consecutiveFailures: number;
  /** The run failure kept by the runs; the status query falls back to a failing connection test. */
  lastError: string | null;
  disabledReason: string | null;
  lastDeliveredAt: Date | null;
  /** Age of the oldest event after the cursor, in seconds; 0 when nothing is pending. */
  deliveryLagSeconds: number;
  /** next_retry_at of the configuration's FAILED job, if any. */
  retryAt: Date | null;
  /** Start of its last scheduled job, if any. */
  lastScheduledStart: Date | null;
}

/**
 * The read side of delivery status (issue #12): one SQL statement for all configurations (or
 * some), no N+1. Each LATERAL subquery is an index lookup: the last SUCCEEDED and the FAILED job
 * through export_jobs (configuration_id, created_at), the first pending event through the
 * primary key of audit_events (sequence > cursor ORDER BY sequence LIMIT 1). Reads PostgreSQL
 * only, never Redis, so a queue outage never blocks a dashboard.
 */
export class ExportStatusRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async list(ids?: string[]): Promise<ExportStatusRow[]> {
    const rows = await this.prisma.$queryRaw<
      Array<{
        id: string;
        enabled: boolean;
        connection_status: string;
        interval: ExportInterval;
        bucket: string;
        path: string | null;
        cursor: bigint;
        consecutive_failures: number;
        last_error: string | null;
        disabled_reason: string | null;
        last_delivered_at: Date | null;
        lag_seconds: number;
        retry_at: Date | null;
        last_scheduled_start: Date | null;
      }>
    >`
      SELECT c.id::text, c.enabled, c.connection_status, c.interval, c.bucket, c.path, c.cursor, c.consecutive_failures,
             coalesce(c.last_error, CASE WHEN c.connection_status <> 'SUCCESS' THEN c.connection_status END) AS last_error,
             c.disabled_reason,
             delivered.end_timestamp AS last_delivered_at,
             coalesce(greatest(extract(epoch FROM (now() - pending.received_timestamp)), 0), 0)::float8 AS lag_seconds,
             failed.next_retry_at AS retry_at,
             scheduled.start_timestamp AS last_scheduled_start
        FROM export_configurations c
        LEFT JOIN LATERAL (
          SELECT j.end_timestamp FROM export_jobs j WHERE j.configuration_id = c.id AND j.status = 'SUCCEEDED' ORDER BY j.created_at DESC LIMIT 1
        ) delivered ON true
        LEFT JOIN LATERAL (
          SELECT e.received_timestamp FROM audit_events e WHERE e.sequence > c.cursor ORDER BY e.sequence LIMIT 1
        ) pending ON true
        LEFT JOIN LATERAL (
          SELECT j.next_retry_at FROM export_jobs j WHERE j.configuration_id = c.id AND j.status = 'FAILED' AND j.next_retry_at IS NOT NULL ORDER BY j.created_at DESC LIMIT 1
        ) failed ON true
        LEFT JOIN LATERAL (
          SELECT j.start_timestamp FROM export_jobs j WHERE j.configuration_id = c.id AND j.trigger = 'SCHEDULED' ORDER BY j.created_at DESC LIMIT 1
        ) scheduled ON true
       WHERE ${ids === undefined} OR c.id::text = ANY(${ids ?? []}::text[])
       ORDER BY c.created_at, c.id`;
    return rows.map((row) => ({
      id: row.id,
      enabled: row.enabled,
      connectionStatus: row.connection_status,
      interval: row.interval,
      bucket: row.bucket,
      path: row.path,
      cursor: row.cursor,
      consecutiveFailures: row.consecutive_failures,
      lastError: row.last_error,
      disabledReason: row.disabled_reason,
      lastDeliveredAt: row.last_delivered_at,
      deliveryLagSeconds: Number(row.lag_seconds),
      retryAt: row.retry_at,
      lastScheduledStart: row.last_scheduled_start,
    }));
  }
}
