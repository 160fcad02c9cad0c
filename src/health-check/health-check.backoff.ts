/**
 * How long a failing configuration waits before its next background re-test: the period after the
 * first failure, doubling with each further failure, capped. A role whose trust policy was just
 * fixed is noticed within one period; one that stays broken for days costs one AssumeRole per cap.
 */
export function healthCheckDelayMs(failures: number, periodMs: number, maxBackoffMs: number): number {
  // 2 ** 40 already overflows any sensible cap; bounding the exponent keeps the number finite.
  const exponent = Math.min(Math.max(failures - 1, 0), 40);
  return Math.min(periodMs * 2 ** exponent, Math.max(maxBackoffMs, periodMs));
}
