import type { PrismaClient } from '../database/prisma';
import type { ExportInterval } from '../generated/prisma/enums';

export interface ScheduledConfiguration {
  id: string;
  interval: ExportInterval;
  enabled: boolean;
}

/** What the scheduler reads from PostgreSQL, the source of truth for schedules. */
export class ExportScheduleRepository {
  constructor(private readonly prisma: PrismaClient) {}

  listConfigurations(): Promise<ScheduledConfiguration[]> {
    return this.prisma.exportConfiguration.findMany({ select: { id: true, interval: true, enabled: true }, orderBy: { createdAt: 'asc' } });
  }
}
