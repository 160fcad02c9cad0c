import type { Logger } from '../common/logger';
import type { NotificationDispatcher } from './notification.dispatcher';

/**
 * Runs {@link NotificationDispatcher.runOnce} every period, like HealthCheckLoop: a plain timer in
 * whichever process starts it (rows are claimed with SKIP LOCKED); passes never overlap.
 */
export class NotificationLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly dispatcher: NotificationDispatcher,
    private readonly periodMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops the loop and waits for a pass in progress (its sends are bounded by their timeout). */
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
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    try {
      await this.dispatcher.runOnce();
    } catch (error) {
      this.logger.error({ err: error }, 'notification pass failed');
    }
  }
}
