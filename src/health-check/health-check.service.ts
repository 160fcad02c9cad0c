import type { Logger } from '../common/logger';
import { healthCheckDelayMs } from './health-check.backoff';
import type { HealthCheckCandidate, HealthCheckRepository } from './health-check.repository';

/**
 * The connection test as the health check uses it. ConnectionTestService (src/connection-test)
 * fits; declared here so this module depends on the behaviour, not on the class.
 */
export interface ConnectionTester {
  test(target: HealthCheckCandidate): Promise<{ ok: boolean; status: string; testedAt: Date }>;
}

export interface HealthCheckSettings {
  /** HEALTH_CHECK_PERIOD_MS: loop period, and the first wait after a failure. */
  periodMs: number;
  /** HEALTH_CHECK_MAX_BACKOFF_MS: the longest wait between two re-tests. */
  maxBackoffMs: number;
  /**
   * How long a claimed row stays invisible to other processes while its test runs; must exceed
   * the longest test (CONNECTION_TEST_TIMEOUT_MS), or two processes could test the same row.
   */
  leaseMs: number;
  /** Rows claimed (and tested concurrently) per pass. */
  batchSize?: number;
}

/** Told when a configuration's connection works again (the export schedule fits: it retries the failed export at once). */
export interface RecoveryListener {
  retryNow(configurationId: string): Promise<void>;
}

export interface HealthCheckPassResult {
  tested: number;
  recovered: number;
  stillFailing: number;
  /** Results dropped because the configuration changed during the test. */
  stale: number;
}

/**
 * Re-tests failing configurations in the background, so a configuration whose problem was fixed
 * outside the service (the seed's IAM-role flow: the trust policy is fixed in AWS after the
 * configuration was created) turns SUCCESS by itself.
 */
export class HealthCheckService {
  constructor(
    private readonly repository: HealthCheckRepository,
    private readonly tester: ConnectionTester,
    private readonly settings: HealthCheckSettings,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
    private readonly recovery?: RecoveryListener,
  ) {}

  /** One pass: claims the due configurations and re-tests them. */
  async runOnce(): Promise<HealthCheckPassResult> {
    const result: HealthCheckPassResult = { tested: 0, recovered: 0, stillFailing: 0, stale: 0 };
    const { periodMs, maxBackoffMs, batchSize = 10 } = this.settings;
    const claimed = await this.repository.claimDue(this.now(), batchSize, Math.max(this.settings.leaseMs, periodMs));
    await Promise.all(
      claimed.map(async (candidate) => {
        const outcome = await this.tester.test(candidate);
        const failures = candidate.healthCheckFailures + 1;
        const nextHealthCheckAt = outcome.ok ? null : new Date(outcome.testedAt.getTime() + healthCheckDelayMs(failures, periodMs, maxBackoffMs));
        const stored = await this.repository.recordOutcome(candidate, { ...outcome, nextHealthCheckAt });
        result.tested += 1;
        if (!stored) result.stale += 1;
        else if (outcome.ok) {
          result.recovered += 1;
          // The export that failed with the old problem need not wait for its backoff.
          await this.recovery
            ?.retryNow(candidate.id)
            .catch((error: unknown) => this.logger.error({ err: error, configurationId: candidate.id }, 'could not queue the retry of the export'));
        } else result.stillFailing += 1;
        this.logger.info(
          { configurationId: candidate.id, ok: outcome.ok, stored, nextHealthCheckAt: nextHealthCheckAt?.toISOString() },
          outcome.ok ? 'health check: configuration recovered' : 'health check: configuration still failing',
        );
      }),
    );
    return result;
  }
}
