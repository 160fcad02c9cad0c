import type { PrismaClient } from '../database/prisma';
import type { ExportStatus, ExportTrigger } from '../generated/prisma/enums';

export interface ExportJobRow {
  id: string;
  configurationId: string;
  status: ExportStatus;
  trigger: ExportTrigger;
  eventCount: number;
  startTimestamp: Date | null;
  endTimestamp: Date | null;
  failureReason: string | null;
  attempts: number;
  failureCount: number;
  lastFailureReason: string | null;
  lastFailedAt: Date | null;
  nextRetryAt: Date | null;
  createdAt: Date;
  /** received_timestamp of the job's first event (from_sequence is exclusive); null without events. */
  oldestEventReceivedAt: Date | null;
}

export interface ExportJobTaskRow {
  id: string;
  offset: number;
  limit: number;
  objectKey: string;
  status: ExportStatus;
  attempts: number;
  startTimestamp: Date | null;
  endTimestamp: Date | null;
  failureReason: string | null;
}

/** Read side of export jobs, for the API (the worker's writes are in ExportJobRepository). */
export class ExportJobHistoryRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async configurationExists(configurationId: string): Promise<boolean> {
    return (await this.prisma.exportConfiguration.count({ where: { id: configurationId } })) > 0;
  }

  /**
   * Newest first. The oldest event's received time of every job comes from one more query (an
   * index lookup per job on audit_events' primary key), not one per job.
   */
  async listJobs(configurationId: string): Promise<ExportJobRow[]> {
    const [jobs, oldest] = await Promise.all([this.findJobs(configurationId), this.oldestEventReceivedAt(configurationId)]);
    return jobs.map((job) => ({ ...job, oldestEventReceivedAt: oldest.get(job.id) ?? null }));
  }

  private async oldestEventReceivedAt(configurationId: string): Promise<Map<string, Date>> {
    const rows = await this.prisma.$queryRaw<Array<{ id: string; received: Date | null }>>`
      SELECT j.id::text AS id, first.received_timestamp AS received
        FROM export_jobs j
        LEFT JOIN LATERAL (
          SELECT e.received_timestamp FROM audit_events e WHERE e.sequence > j.from_sequence AND e.sequence <= j.to_sequence ORDER BY e.sequence LIMIT 1
        ) first ON true
       WHERE j.configuration_id = ${configurationId}::uuid`;
    return new Map(rows.filter((row) => row.received !== null).map((row) => [row.id, row.received as Date]));
  }

  private findJobs(configurationId: string) {
    return this.prisma.exportJob.findMany({
      where: { configurationId },
      orderBy: { createdAt: 'desc' },
      select: {
        id: true,
        configurationId: true,
        status: true,
        trigger: true,
        eventCount: true,
        startTimestamp: true,
        endTimestamp: true,
        failureReason: true,
        attempts: true,
        failureCount: true,
        lastFailureReason: true,
        lastFailedAt: true,
        nextRetryAt: true,
        createdAt: true,
      },
    });
  }

  /** In event order; null when there is no such job. */
  async listTasks(jobId: string): Promise<ExportJobTaskRow[] | null> {
    const job = await this.prisma.exportJob.findUnique({
      where: { id: jobId },
      select: {
        tasks: {
          orderBy: { offset: 'asc' },
          select: { id: true, offset: true, limit: true, objectKey: true, status: true, attempts: true, startTimestamp: true, endTimestamp: true, failureReason: true },
        },
      },
    });
    return job ? job.tasks : null;
  }
}
