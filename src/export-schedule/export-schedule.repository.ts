import type { PrismaClient } from '../database/prisma';
import type { ExportInterval } from '../generated/prisma/enums';

export interface ScheduledConfiguration {
  id: string;
  interval: ExportInterval;
  enabled: boolean;
}

/** A failed job whose next try is due. */
export interface DueRetry {
  configurationId: string;
  jobId: string;
  failureCount: number;
}

/**
 * What the scheduler reads from PostgreSQL, the source of truth for schedules, retries and run
 * requests; Redis only caches it as BullMQ jobs. Read-only: the rows belong to the configuration
 * and export-job repositories.
 */
export class ExportScheduleRepository {
  constructor(private readonly prisma: PrismaClient) {}

  listConfigurations(): Promise<ScheduledConfiguration[]> {
    return this.prisma.exportConfiguration.findMany({ select: { id: true, interval: true, enabled: true }, orderBy: { createdAt: 'asc' } });
  }

  /** The given configurations as they are now (gone ones are left out). */
  findConfigurations(ids: string[]): Promise<ScheduledConfiguration[]> {
    return this.prisma.exportConfiguration.findMany({ where: { id: { in: ids } }, select: { id: true, interval: true, enabled: true } });
  }

  /** FAILED jobs of enabled configurations whose next try is due by `now`. */
  async listDueRetries(now: Date): Promise<DueRetry[]> {
    const jobs = await this.prisma.exportJob.findMany({
      where: { status: 'FAILED', nextRetryAt: { lte: now }, configuration: { enabled: true } },
      select: { id: true, configurationId: true, failureCount: true },
      orderBy: { nextRetryAt: 'asc' },
    });
    return jobs.map((job) => ({ configurationId: job.configurationId, jobId: job.id, failureCount: job.failureCount }));
  }

  /**
   * Configurations with work that no queued job may stand for any more: a job left PENDING or
   * IN_PROGRESS (a worker died mid-run), or a run asked for before `requestedBefore` that has not
   * started (its queued job was lost with Redis, or is stuck behind a long run, which honours it).
   */
  async listUnfinishedWork(requestedBefore: Date): Promise<string[]> {
    const rows = await this.prisma.exportConfiguration.findMany({
      where: {
        OR: [{ runRequestedAt: { lte: requestedBefore } }, { jobs: { some: { status: { in: ['PENDING', 'IN_PROGRESS'] } } } }],
      },
      select: { id: true },
      orderBy: { createdAt: 'asc' },
    });
    return rows.map((row) => row.id);
  }
}
