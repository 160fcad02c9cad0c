import type { Queue } from 'bullmq';
import type { Logger } from '../common/logger';
import type { ExportSchedulePort } from './export-schedule.port';
import { configurationIdOfScheduler, INTERVAL_MS, QUEUE_COMMAND_TIMEOUT_MS, schedulerIdFor, type ExportJobName, type ExportJobPayload } from './export-queue';
import type { ExportScheduleRepository, ScheduledConfiguration } from './export-schedule.repository';

export interface ReconcileResult {
  /** Schedulers created or corrected (missing in Redis, or with another interval). */
  upserted: string[];
  /** Schedulers removed (configuration disabled or deleted). */
  removed: string[];
  /** Schedulers that were already right. */
  unchanged: string[];
}

export interface EnqueueResult {
  /** Failed jobs whose due retry was (re)queued. */
  retries: number;
  /** Configurations with an interrupted job or an unstarted run request that got a run queued. */
  resumed: number;
}

/**
 * One BullMQ job scheduler per enabled export configuration, and the one-off runs (manual, retry,
 * resume). PostgreSQL is the source of truth and Redis a cache of it: `sync` and `remove` follow
 * each change best-effort (bounded in time: a mutation never waits on a down Redis), and
 * `reconcile`, run by every worker at start-up and then every period, rebuilds Redis from
 * PostgreSQL (Redis down during a change, flushed, or replaced).
 */
export class BullmqExportSchedule implements ExportSchedulePort {
  constructor(
    private readonly queue: Queue<ExportJobPayload, void, ExportJobName>,
    private readonly repository: ExportScheduleRepository,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async sync(configuration: ScheduledConfiguration): Promise<void> {
    if (!configuration.enabled) {
      await this.remove(configuration.id);
      return;
    }
    await this.upsert(configuration);
  }

  async remove(configurationId: string): Promise<void> {
    await bounded(this.queue.removeJobScheduler(schedulerIdFor(configurationId)), 'remove the job scheduler');
  }

  /** Enqueues a run of the configuration now, outside its schedule (the request itself is in PostgreSQL). */
  async runNow(configurationId: string): Promise<void> {
    await bounded(this.queue.add('manual-export', { configurationId }), 'queue a manual run');
  }

  /** Enqueues a retry of the configuration's failed job at once (its connection just recovered). */
  async retryNow(configurationId: string): Promise<void> {
    await bounded(this.queue.add('retry-export', { configurationId }), 'queue a retry');
  }

  /**
   * Asks up to `helpers` other workers to take tasks of an export job in progress. Each request is a
   * BullMQ job with ids only; a worker that takes one claims tasks in PostgreSQL until none is left,
   * so extra or late requests cost a query and nothing else. Removed when done: PostgreSQL is the history.
   */
  async requestTaskHelp(request: { configurationId: string; exportJobId: string; helpers: number }): Promise<void> {
    if (request.helpers <= 0) return;
    const payload = { configurationId: request.configurationId, exportJobId: request.exportJobId };
    const jobs = Array.from({ length: request.helpers }, () => ({ name: 'export-tasks' as const, data: payload, opts: { removeOnComplete: true, removeOnFail: 100 } }));
    await bounded(this.queue.addBulk(jobs), 'ask for help with export tasks');
  }

  /**
   * Queues a failed job's next try at `runAt`. The BullMQ job id is derived from the job and its
   * failure count, so the reconcile loop re-queueing an overdue retry never makes a second one.
   */
  async scheduleRetry(retry: { configurationId: string; jobId: string; failureCount: number; runAt: Date }): Promise<void> {
    const delay = Math.max(0, retry.runAt.getTime() - this.now().getTime());
    await bounded(this.queue.add('retry-export', { configurationId: retry.configurationId }, { jobId: retryJobId(retry.jobId, retry.failureCount), delay }), 'queue a retry');
  }

  /**
   * Makes Redis match PostgreSQL: a scheduler with the right `every` for each enabled
   * configuration, none for others.
   *
   * Redis is read before PostgreSQL, so a create or enable committed meanwhile is never undone: its
   * scheduler, written after its commit, is either missing from the Redis read (then it is not a
   * candidate for removal) or was written before it (then the PostgreSQL read, which comes later,
   * sees the committed row and keeps it). The opposite race, a disable committed after the
   * PostgreSQL read, could see its scheduler re-created here; so the configurations upserted are
   * read again afterwards, and any no longer enabled lose the scheduler again. (A scheduled run
   * that slips through that window is skipped by the run itself: it checks `enabled`.)
   */
  async reconcile(): Promise<ReconcileResult> {
    const result: ReconcileResult = { upserted: [], removed: [], unchanged: [] };
    // Every scheduler in one read, `every` and template included, rather than one read per configuration.
    const schedulers = new Map((await bounded(this.queue.getJobSchedulers(0, -1), 'read the job schedulers')).map((scheduler) => [scheduler.id ?? scheduler.key, scheduler]));
    const configurations = await this.repository.listConfigurations();
    const enabled = new Map(configurations.filter((configuration) => configuration.enabled).map((configuration) => [configuration.id, configuration]));

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
        await this.remove(configurationId);
        result.removed.push(configurationId);
      }
    }

    if (result.upserted.length > 0) {
      const now = new Map((await this.repository.findConfigurations(result.upserted)).map((configuration) => [configuration.id, configuration]));
      for (const id of result.upserted) {
        if (!now.get(id)?.enabled) await this.remove(id);
      }
    }
    this.logger.info({ upserted: result.upserted.length, removed: result.removed.length, unchanged: result.unchanged.length }, 'export schedulers reconciled');
    return result;
  }

  /**
   * Queues what PostgreSQL says is owed and Redis may have lost: retries that are due, and a run
   * for every configuration with an interrupted job or a run request older than
   * `requestGraceMs`. Queuing a run that turns out not to be needed is harmless: it finds the lock
   * taken or nothing to do.
   */
  async enqueueOwedRuns(requestGraceMs: number): Promise<EnqueueResult> {
    const now = this.now();
    const retries = await this.repository.listDueRetries(now);
    for (const retry of retries) {
      await this.scheduleRetry({ ...retry, runAt: now });
    }
    const unfinished = await this.repository.listUnfinishedWork(new Date(now.getTime() - requestGraceMs));
    for (const configurationId of unfinished) {
      await bounded(this.queue.add('resume-export', { configurationId }), 'queue a resumed run');
    }
    if (retries.length + unfinished.length > 0) this.logger.info({ retries: retries.length, resumed: unfinished.length }, 'queued owed export runs');
    return { retries: retries.length, resumed: unfinished.length };
  }

  private async upsert(configuration: ScheduledConfiguration): Promise<void> {
    await bounded(
      this.queue.upsertJobScheduler(
        // BullMQ 6 types the scheduler id as the job name type; it is any string at runtime.
        schedulerIdFor(configuration.id) as ExportJobName,
        { every: INTERVAL_MS[configuration.interval] },
        { name: 'scheduled-export', data: { configurationId: configuration.id } },
      ),
      'write the job scheduler',
    );
  }
}

/** The BullMQ job id of a failed job's next try. */
export function retryJobId(jobId: string, failureCount: number): string {
  return `retry-${jobId}-${failureCount}`;
}

/**
 * Redis calls never hold a caller longer than a bound. The queue's connection already fails fast
 * (no offline queue, a command timeout); this covers what a connection option cannot, such as a
 * queue still waiting for its first connection.
 */
async function bounded<T>(work: Promise<T>, what: string, timeoutMs = QUEUE_COMMAND_TIMEOUT_MS + 1_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms (${what})`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
