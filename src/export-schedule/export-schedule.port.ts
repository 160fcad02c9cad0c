import type { ExportInterval } from '../generated/prisma/enums';

/**
 * What the configuration lifecycle needs from the scheduler. PostgreSQL is the source of truth;
 * the implementation (BullMQ job schedulers) can always be rebuilt from it.
 */
export interface ExportSchedulePort {
  /** Creates or updates the job scheduler of an enabled configuration; removes it when disabled. */
  sync(configuration: { id: string; interval: ExportInterval; enabled: boolean }): Promise<void>;
  /** Removes the configuration's job scheduler, if any. */
  remove(configurationId: string): Promise<void>;
  /** Queues a retry of the configuration's failed export job now (a no-op run when there is none). */
  retryNow(configurationId: string): Promise<void>;
}
