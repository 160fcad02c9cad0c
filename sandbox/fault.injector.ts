import { AwsError } from './sandbox.errors';

/** Deterministic S3 failure injection, configured through the control API. */
export interface FaultConfig {
  /** Fraction of S3 requests that fail, 0..1. 1/3 fails exactly every third request. */
  s3FailureRatio: number;
  /** HTTP status of the injected failure (default 503). */
  status?: number;
  /** S3 error code (default `SlowDown` for 503, `InternalError` otherwise). */
  code?: string;
}

const MESSAGES: Record<string, string> = {
  SlowDown: 'Please reduce your request rate.',
  ServiceUnavailable: 'Service is unable to handle request.',
  InternalError: 'We encountered an internal error. Please try again.',
};

/**
 * Fails S3 requests at a fixed ratio without randomness, so a test can predict exactly
 * which attempts fail: request n (counted from when faults were set) fails when
 * floor(n * ratio) increases. Failures happen before authentication and storage, like a
 * front-end throttle, so a failed request never has side effects.
 */
export class FaultInjector {
  private config: FaultConfig | null = null;
  private count = 0;

  set(config: FaultConfig | null): void {
    if (config !== null) {
      const { s3FailureRatio: r, status = 503 } = config;
      if (typeof r !== 'number' || !(r >= 0 && r <= 1)) throw new RangeError('s3FailureRatio must be a number between 0 and 1');
      if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError('status must be an HTTP error status (400-599)');
    }
    this.config = config;
    this.count = 0;
  }

  /** Returns the error to answer the next S3 request with, or undefined to let it through. */
  next(): AwsError | undefined {
    if (!this.config || this.config.s3FailureRatio === 0) return undefined;
    const { s3FailureRatio: r, status = 503 } = this.config;
    this.count += 1;
    // The epsilon keeps 1/3 * 3 from landing on 0.9999... and skipping a failure.
    const fails = Math.floor(this.count * r + 1e-9) > Math.floor((this.count - 1) * r + 1e-9);
    if (!fails) return undefined;
    const code = this.config.code ?? (status === 503 ? 'SlowDown' : 'InternalError');
    return new AwsError(code, status, MESSAGES[code] ?? `Injected fault (${code}).`);
  }
}
