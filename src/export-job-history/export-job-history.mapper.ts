import type { ExportJobRow, ExportJobTaskRow } from './export-job-history.repository';
import { ExportJob, ExportJobTask, ExportStatus, ExportTrigger } from './export-job-history.type';

export function toExportJob(row: ExportJobRow): ExportJob {
  return Object.assign(new ExportJob(), {
    id: row.id,
    exportConfigurationId: row.configurationId,
    status: ExportStatus[row.status],
    trigger: ExportTrigger[row.trigger],
    eventCount: row.eventCount,
    startTimestamp: row.startTimestamp,
    endTimestamp: row.endTimestamp,
    failureReason: row.failureReason,
    attempts: row.attempts,
    failureCount: row.failureCount,
    lastFailureReason: row.lastFailureReason,
    lastFailedAt: row.lastFailedAt,
    nextRetryAt: row.nextRetryAt,
    createdAt: row.createdAt,
    oldestEventReceivedAt: row.oldestEventReceivedAt,
  });
}

export function toExportJobTask(row: ExportJobTaskRow): ExportJobTask {
  return Object.assign(new ExportJobTask(), {
    id: row.id,
    startTimestamp: row.startTimestamp,
    endTimestamp: row.endTimestamp,
    attempts: row.attempts,
    offset: row.offset,
    limit: row.limit,
    status: ExportStatus[row.status],
    failureReason: row.failureReason,
    objectKey: row.objectKey,
  });
}
