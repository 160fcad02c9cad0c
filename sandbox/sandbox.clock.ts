/**
 * The sandbox's notion of "now" for credential lifetimes. Tests advance it to expire
 * temporary credentials without sleeping. Request timestamps (`x-amz-date` skew) are still
 * checked against the real clock, because the SDK signs with the real clock and an
 * advanced sandbox would otherwise reject every request as skewed.
 */
export class SandboxClock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advanceClock(ms) needs a finite, non-negative number');
    this.offsetMs += ms;
  }
}
