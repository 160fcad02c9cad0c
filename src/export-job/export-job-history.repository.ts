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

  /** Newest first. */
  listJobs(configurationId: string): Promise<ExportJobRow[]> {
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
