import type { Logger } from '../common/logger';
import type { BullmqExportSchedule } from './export-schedule.service';

/**
 * Keeps Redis repaired from PostgreSQL while the process runs, not only at start-up: every period
 * it reconciles the job schedulers and queues the runs PostgreSQL says are owed (due retries,
 * interrupted jobs, run requests whose queued job was lost). So a Redis that was down, flushed or
 * replaced has every enabled configuration's scheduler back within one period.
 *
 * Every worker process runs one; the passes are idempotent, so several at once only repeat work.
 * Passes never overlap: the next one is timed from the end of the previous one.
 */
export class ExportScheduleReconcileLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly schedule: BullmqExportSchedule,
    private readonly periodMs: number,
    private readonly logger: Logger,
  ) {}

  /** Runs a first pass now (bounded, and never throws: Redis may be down at start-up), then one every period. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.running = this.pass();
    await this.running;
    this.running = undefined;
    this.next();
  }

  /** Stops the loop and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private next(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().finally(() => {
        this.running = undefined;
        this.next();
      });
    }, this.periodMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    try {
      await this.schedule.reconcile();
    } catch (error) {
      this.logger.error({ err: error }, 'could not reconcile the export schedulers with PostgreSQL; trying again next period');
      return;
    }
    try {
      // A request younger than a period may still have its own queued job waiting.
      await this.schedule.enqueueOwedRuns(this.periodMs);
    } catch (error) {
      this.logger.error({ err: error }, 'could not queue the export runs owed by PostgreSQL; trying again next period');
    }
  }
}
