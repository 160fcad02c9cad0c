import type { Logger } from './logger';

/**
 * Runs `pass` every `periodMs` in this process until stopped. Passes never overlap: the next one
 * is timed from the end of the previous one. A pass that throws is logged and the loop goes on (a
 * database or Redis blip must not end it). The timer is unref'd: the loop alone never keeps a
 * process alive (e.g. a CLI tool that built the app).
 */
export class PeriodicLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    /** Names the loop in its log lines. */
    private readonly name: string,
    private readonly periodMs: number,
    private readonly pass: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** Starts the loop; with `runNow`, the first pass runs at once and start() waits for it. */
  async start(options: { runNow?: boolean } = {}): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    if (options.runNow) {
      this.running = this.runPass();
      await this.running;
      this.running = undefined;
    }
    this.next();
  }

  /** Stops the loop and waits for a pass in progress to finish (so its writes are done). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private next(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runPass().finally(() => {
        this.running = undefined;
        this.next();
      });
    }, this.periodMs);
    this.timer.unref();
  }

  private async runPass(): Promise<void> {
    try {
      await this.pass();
    } catch (error) {
      this.logger.error({ err: error, loop: this.name }, `${this.name} pass failed; trying again next period`);
    }
  }
}
