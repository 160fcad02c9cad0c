import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../common/logger';
import type { RefreshingCredentials } from './export-credentials';
import { classifyFailure, ExportTaskFailure, failureReason } from './export-failure';
import type { RunConfiguration } from './export-job.repository';
import { RunLockLostError } from './export-job.repository';
import type { ExportRunMetrics } from './export-run.metrics';
import type { ExportAwsClients, ExportRunOptions } from './export-run.service';
import { TaskClaimLostError } from './export-task-claim.repository';

export interface StepAttemptDependencies {
  aws: ExportAwsClients;
  options: Pick<ExportRunOptions, 'maxTaskAttempts' | 'retryBaseDelayMs' | 'retryMaxDelayMs' | 'requestMaxAttempts'>;
  logger: Logger;
  metrics: ExportRunMetrics;
}

/**
 * Runs one step of a job (a task's upload, the digest's write) with an S3 client of its own per
 * try, until it succeeds, fails permanently, or runs out of tries, with backoff in between.
 * A lost run lock or task claim is not a failure of the step: it ends the step at once, untried.
 */
export async function attemptStep<T>(
  deps: StepAttemptDependencies,
  configuration: RunConfiguration,
  credentials: RefreshingCredentials,
  context: { step: 'task' | 'digest'; taskId?: string; jobId?: string },
  work: (s3: S3Client) => Promise<T>,
): Promise<T> {
  const { options } = deps;
  for (let attempt = 1; ; attempt += 1) {
    if (attempt > 1 && context.step === 'task') deps.metrics.retried('task');
    // A client per try: cheap, and it starts from the credentials as they are now.
    const s3 = deps.aws.createS3Client(configuration.region, credentials.provider, { maxAttempts: options.requestMaxAttempts });
    try {
      return await work(s3);
    } catch (error) {
      if (error instanceof TaskClaimLostError || error instanceof RunLockLostError) throw error;
      const kind = classifyFailure(error);
      const reason = failureReason(error);
      if (kind === 'permanent') throw new ExportTaskFailure(reason, kind, error);
      if (kind === 'expired-credentials') credentials.invalidate();
      if (attempt >= options.maxTaskAttempts) throw new ExportTaskFailure(reason, kind, error);
      const delay = backoff(attempt, options.retryBaseDelayMs, options.retryMaxDelayMs);
      deps.logger.info({ configurationId: configuration.id, ...context, attempt, delay, reason }, `export ${context.step} failed, retrying`);
      await sleep(delay);
    } finally {
      s3.destroy();
    }
  }
}

/** Exponential backoff with jitter (half fixed, half random), so workers retrying together spread out. */
function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
