import { INTERVAL_MS } from '../export-schedule/export-queue';
import type { ExportStatusRepository, ExportStatusRow } from './export-status.repository';
import { DeliveryStatus, ExportConfigurationStatus } from './export-status.type';

/** Delivery status of export configurations (read side; the runs write the state it reads). */
export class ExportStatusService {
  constructor(private readonly repository: ExportStatusRepository) {}

  /** Every configuration's status, oldest configuration first (one query). */
  async list(): Promise<ExportConfigurationStatus[]> {
    return (await this.repository.list()).map(toConfigurationStatus);
  }

  /** Status by configuration id, for the ExportConfiguration field resolvers (one query). */
  async byId(ids?: string[]): Promise<Map<string, DeliveryStatus>> {
    return new Map((await this.repository.list(ids)).map((row) => [row.id, toDeliveryStatus(row)]));
  }
}

function toDeliveryStatus(row: ExportStatusRow): DeliveryStatus {
  return Object.assign(new DeliveryStatus(), {
    lastDeliveredAt: row.lastDeliveredAt,
    lastDeliveredSequence: row.lastDeliveredAt === null && row.cursor === 0n ? null : row.cursor.toString(),
    deliveryLagSeconds: row.deliveryLagSeconds,
    lastError: row.lastError,
    consecutiveFailures: row.consecutiveFailures,
    nextRunAt: nextRunAt(row),
    disabledReason: row.disabledReason,
  });
}

/** Field by field, like every mapper here: nothing stored reaches a response unless named. */
function toConfigurationStatus(row: ExportStatusRow): ExportConfigurationStatus {
  return Object.assign(new ExportConfigurationStatus(), {
    id: row.id,
    enabled: row.enabled,
    connectionStatus: row.connectionStatus,
    interval: row.interval,
    bucket: row.bucket,
    path: row.path,
    ...toDeliveryStatus(row),
  });
}

/**
 * A disabled configuration runs only when asked to: null. Otherwise its failed job's retry time,
 * else the last scheduled run's start plus the interval (the scheduler's own next time lives in
 * Redis, which a status read must not wait for), else null (no scheduled run yet).
 */
function nextRunAt(row: ExportStatusRow): Date | null {
  if (!row.enabled) return null;
  if (row.retryAt) return row.retryAt;
  if (row.lastScheduledStart) return new Date(row.lastScheduledStart.getTime() + INTERVAL_MS[row.interval]);
  return null;
}
