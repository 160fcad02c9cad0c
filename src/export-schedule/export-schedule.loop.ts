import { PeriodicLoop } from '../common/periodic-loop';
import type { Logger } from '../common/logger';
import type { BullmqExportSchedule } from './export-schedule.service';

/**
 * Keeps Redis repaired from PostgreSQL while the process runs, not only at start-up: every period
 * it reconciles the job schedulers and queues the runs PostgreSQL says are owed (due retries,
 * interrupted jobs, run requests whose queued job was lost). So a Redis that was down, flushed or
 * replaced has every enabled configuration's scheduler back within one period.
 *
 * Every worker process runs one; the passes are idempotent, so several at once only repeat work.
 */
export class ExportScheduleReconcileLoop {
  private readonly loop: PeriodicLoop;

  constructor(schedule: BullmqExportSchedule, periodMs: number, logger: Logger) {
    this.loop = new PeriodicLoop(
      'export schedule reconcile',
      periodMs,
      async () => {
        await schedule.reconcile();
        // A request younger than a period may still have its own queued job waiting.
        await schedule.enqueueOwedRuns(periodMs);
      },
      logger,
    );
  }

  /** Runs a first pass now (bounded, and never throws: Redis may be down at start-up), then one every period. */
  start(): Promise<void> {
    return this.loop.start({ runNow: true });
  }

  /** Stops the loop and waits for a pass in progress. */
  stop(): Promise<void> {
    return this.loop.stop();
  }
}
