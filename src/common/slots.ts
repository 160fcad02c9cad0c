/**
 * A counting semaphore: at most `size` holders at once, served first come, first served.
 * `acquire` resolves with the function that frees the slot (calling it twice frees it once).
 * Used for the tasks a worker runs at once and the gzip chunks it deflates at once.
 */
export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  /** `what` names the setting in the error a bad size gets ("Task concurrency", ...). */
  constructor(
    readonly size: number,
    what: string,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`${what} must be a positive integer, got ${size}`);
    this.free = size;
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so nobody can overtake it.
      if (next) next();
      else this.free += 1;
    };
  }
}
