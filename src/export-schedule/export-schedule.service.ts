import type { Queue } from 'bullmq';
import type { Logger } from '../common/logger';
import type { ExportSchedulePort } from './export-schedule.port';
import {
  configurationIdOfScheduler,
  INTERVAL_MS,
  schedulerIdFor,
  type ExportJobName,
  type ExportJobPayload,
} from './export-queue';
import type { ExportScheduleRepository, ScheduledConfiguration } from './export-schedule.repository';

export interface ReconcileResult {
  /** Schedulers created or corrected (missing in Redis, or with another interval). */
  upserted: string[];
  /** Schedulers removed (configuration disabled or deleted). */
  removed: string[];
  /** Schedulers that were already right. */
  unchanged: string[];
}

/**
 * One BullMQ job scheduler per enabled export configuration. PostgreSQL is the source of truth:
 * `sync` and `remove` follow each change, and `reconcile` rebuilds Redis from PostgreSQL at
 * start-up (Redis may have lost everything, or a change may have been committed while Redis was
 * unreachable).
 */
export class BullmqExportSchedule implements ExportSchedulePort {
  constructor(
    private readonly queue: Queue<ExportJobPayload, void, ExportJobName>,
    private readonly repository: ExportScheduleRepository,
    private readonly logger: Logger,
  ) {}

  async sync(configuration: ScheduledConfiguration): Promise<void> {
    if (!configuration.enabled) {
      await this.remove(configuration.id);
      return;
    }
    await this.upsert(configuration);
  }

  async remove(configurationId: string): Promise<void> {
    await this.queue.removeJobScheduler(schedulerIdFor(configurationId));
  }

  /** Enqueues a run of the configuration now, outside its schedule. */
  async runNow(configurationId: string): Promise<void> {
    await this.queue.add('manual-export', { configurationId });
  }

  /** Makes Redis match PostgreSQL: a scheduler with the right `every` for each enabled configuration, none for others. */
  async reconcile(): Promise<ReconcileResult> {
    const result: ReconcileResult = { upserted: [], removed: [], unchanged: [] };
    const configurations = await this.repository.listConfigurations();
    const enabled = new Map(configurations.filter((configuration) => configuration.enabled).map((configuration) => [configuration.id, configuration]));
    // Every scheduler in one read, `every` and template included, rather than one read per configuration.
    const schedulers = new Map((await this.queue.getJobSchedulers(0, -1)).map((scheduler) => [scheduler.id ?? scheduler.key, scheduler]));

    for (const configuration of enabled.values()) {
      const existing = schedulers.get(schedulerIdFor(configuration.id));
      if (existing && Number(existing.every) === INTERVAL_MS[configuration.interval] && existing.template?.data?.configurationId === configuration.id) {
        result.unchanged.push(configuration.id);
        continue;
      }
      await this.upsert(configuration);
      result.upserted.push(configuration.id);
    }

    // Schedulers whose configuration is disabled or gone. Other schedulers that may share the
    // queue (not derived from a configuration id) are left alone.
    for (const schedulerId of schedulers.keys()) {
      const configurationId = configurationIdOfScheduler(schedulerId);
      if (configurationId !== undefined && !enabled.has(configurationId)) {
        await this.queue.removeJobScheduler(schedulerId);
        result.removed.push(configurationId);
      }
    }
    this.logger.info({ upserted: result.upserted.length, removed: result.removed.length, unchanged: result.unchanged.length }, 'export schedulers reconciled');
    return result;
  }

  private async upsert(configuration: ScheduledConfiguration): Promise<void> {
    await this.queue.upsertJobScheduler(
      // BullMQ 6 types the scheduler id as the job name type; it is any string at runtime.
      schedulerIdFor(configuration.id) as ExportJobName,
      { every: INTERVAL_MS[configuration.interval] },
      { name: 'scheduled-export', data: { configurationId: configuration.id } },
    );
  }
}
