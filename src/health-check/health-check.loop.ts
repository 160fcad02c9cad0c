import type { Logger } from '../common/logger';
import type { HealthCheckService } from './health-check.service';

/**
 * Runs {@link HealthCheckService.runOnce} every period, in whichever process starts it (the API
 * process by default; any number of processes may run it: rows are claimed with SKIP LOCKED).
 * A plain timer rather than a BullMQ repeatable job: the pass is cheap when nothing is due, and
 * correctness comes from the row claims, not from running in exactly one place.
 *
 * Passes never overlap: the next one is scheduled when the previous one ends.
 */
export class HealthCheckLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly service: HealthCheckService,
    private readonly periodMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops the loop and waits for a pass in progress to finish (so its database writes are done). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.periodMs);
    // The loop alone must not keep a process alive (e.g. a CLI tool that built the app).
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    try {
      await this.service.runOnce();
    } catch (error) {
      // A database blip must not end the loop: log and try again next period.
      this.logger.error({ err: error }, 'health check pass failed');
    }
  }
}
