import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AwsCredentials, CredentialSource } from '../aws/aws-client.factory';
import type { Logger } from '../common/logger';
import { connectionFailureStatus } from '../connection-test/connection-test.service';
import type { ExportTrigger } from '../generated/prisma/enums';
import { RefreshingCredentials } from './export-credentials';
import { classifyFailure, ExportTaskFailure, failureReason } from './export-failure';
import type { ExportJobRepository, PlannedJob, PlannedTask, RunConfiguration, RunLock } from './export-job.repository';
import { exportObjectKey } from './export-object-key';
import { countClientRetries, type ExportTaskUploader } from './export-task.uploader';

/**
 * What a run needs from src/aws (AwsClientFactory fits). The S3 client takes a credential
 * provider, not fixed keys, so that temporary credentials are refreshed during a long run.
 */
export interface ExportAwsClients {
  credentialsFor(source: CredentialSource): Promise<AwsCredentials>;
  createS3Client(region: string, credentials: AwsCredentials | (() => Promise<AwsCredentials>), options?: { maxAttempts?: number }): S3Client;
}

export interface ExportRunOptions {
  /** EXPORT_TASK_MAX_EVENTS: the most events in one task, i.e. in one object. */
  maxEventsPerTask: number;
  /** Tries of one task within a run (transient failures) before the run gives up until next time. */
  maxTaskAttempts: number;
  /** Exponential backoff between task tries: base, doubled each time, capped; with jitter. */
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** Tries of one S3 request by the SDK itself before the task try fails. */
  requestMaxAttempts: number;
}

export const DEFAULT_RUN_OPTIONS: Omit<ExportRunOptions, 'maxEventsPerTask'> = {
  maxTaskAttempts: 5,
  retryBaseDelayMs: 1_000,
  retryMaxDelayMs: 30_000,
  requestMaxAttempts: 3,
};

export type RunOutcome =
  | { status: 'skipped'; reason: string }
  | { status: 'nothing-to-export' }
  | { status: 'succeeded'; jobIds: string[]; eventCount: number }
  | { status: 'failed'; jobId: string; reason: string };

/**
 * One export run of a configuration: finish what an earlier run left (a crash, a failure), then
 * deliver everything new, job by job, task by task. Exactly once comes from three rules:
 * objects have keys fixed at planning (a retry overwrites), a job's cursor moves only in the
 * transaction that marks it SUCCEEDED, and only one run per configuration at a time.
 */
export class ExportRunService {
  constructor(
    private readonly repository: ExportJobRepository,
    private readonly uploader: ExportTaskUploader,
    private readonly aws: ExportAwsClients,
    private readonly options: ExportRunOptions,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run(configurationId: string, trigger: ExportTrigger): Promise<RunOutcome> {
    const lock = await this.repository.tryLockConfiguration(configurationId);
    if (!lock) {
      // The run in progress will be followed by the next scheduled one: nothing is lost by skipping.
      this.logger.info({ configurationId, trigger }, 'export run skipped: another run of this configuration is in progress');
      return { status: 'skipped', reason: 'another run is in progress' };
    }
    try {
      const configuration = await this.repository.findConfiguration(configurationId);
      if (!configuration) return { status: 'skipped', reason: 'configuration not found' };
      // A scheduled job can still be queued after its configuration was disabled; a manual run is
      // an explicit request and runs anyway.
      if (trigger === 'SCHEDULED' && !configuration.enabled) return { status: 'skipped', reason: 'configuration disabled' };

      const credentials = new RefreshingCredentials(() => this.aws.credentialsFor(configuration));
      const done: string[] = [];
      let eventCount = 0;

      const unfinished = await this.repository.findUnfinishedJob(configurationId);
      if (unfinished) {
        this.logger.info({ configurationId, jobId: unfinished.id, status: unfinished.status }, 'resuming unfinished export job');
        await this.repository.resumeJob(unfinished.id);
        const outcome = await this.executeJob(configuration, unfinished, credentials, lock);
        if (outcome.status === 'failed') return outcome;
        done.push(unfinished.id);
        eventCount += outcome.eventCount;
      }

      // Planning without the lock could plan the same events twice (see RunLock.assertHeld).
      await lock.assertHeld();
      const job = await this.repository.planJob({
        configurationId,
        trigger,
        maxEventsPerTask: this.options.maxEventsPerTask,
        startedAt: this.now(),
        objectKey: (planned, offset) => exportObjectKey(configuration.path, planned.startedAt, planned.id, offset),
      });
      if (job) {
        this.logger.info({ configurationId, jobId: job.id, tasks: job.tasks.length, from: job.fromSequence.toString(), to: job.toSequence.toString() }, 'export job planned');
        const outcome = await this.executeJob(configuration, job, credentials, lock);
        if (outcome.status === 'failed') return outcome;
        done.push(job.id);
        eventCount += outcome.eventCount;
      }
      return done.length === 0 ? { status: 'nothing-to-export' } : { status: 'succeeded', jobIds: done, eventCount };
    } finally {
      await lock.release();
    }
  }

  private async executeJob(
    configuration: RunConfiguration,
    job: PlannedJob,
    credentials: RefreshingCredentials,
    lock: RunLock,
  ): Promise<{ status: 'succeeded'; eventCount: number } | { status: 'failed'; jobId: string; reason: string }> {
    let eventCount = 0;
    for (const task of job.tasks) {
      if (task.status === 'SUCCEEDED') {
        eventCount += task.limit;
        continue;
      }
      // A run whose lock went with its session (a database restart) stops here and leaves the job
      // IN_PROGRESS, writing nothing more: another run may own it now. The next run resumes it.
      await lock.assertHeld();
      try {
        eventCount += await this.executeTask(configuration, job, task, credentials);
      } catch (error) {
        const failure = error instanceof ExportTaskFailure ? error : new ExportTaskFailure(failureReason(error), 'transient', error);
        // Without the lock, marking the job FAILED could overwrite another run's SUCCEEDED.
        await lock.assertHeld();
        await this.repository.failTask(task.id, failure.message);
        // Only a permanent failure says something about the bucket or the credentials; the text has
        // the connection test's form, so connectionStatus reads the same whoever found the problem.
        const connectionStatus = failure.kind === 'permanent' ? connectionFailureStatus(configuration, failure.message) : undefined;
        await this.repository.failJob(job.id, `Task at offset ${task.offset} failed: ${failure.message}`, connectionStatus);
        this.logger.warn({ configurationId: configuration.id, jobId: job.id, taskId: task.id, kind: failure.kind, reason: failure.message }, 'export job failed');
        return { status: 'failed', jobId: job.id, reason: failure.message };
      }
    }
    await lock.assertHeld();
    await this.repository.completeJob(job, eventCount);
    this.logger.info({ configurationId: configuration.id, jobId: job.id, eventCount }, 'export job succeeded');
    return { status: 'succeeded', eventCount };
  }

  /** Tries a task until it succeeds, fails permanently, or runs out of tries; every try is counted. */
  private async executeTask(configuration: RunConfiguration, job: PlannedJob, task: PlannedTask, credentials: RefreshingCredentials): Promise<number> {
    for (let attempt = 1; ; attempt += 1) {
      await this.repository.startTaskAttempt(task.id);
      // A client per try: cheap, and it starts from the credentials as they are now.
      const s3 = this.aws.createS3Client(configuration.region, credentials.provider, { maxAttempts: this.options.requestMaxAttempts });
      const retries = countClientRetries(s3);
      try {
        const eventCount = await this.uploader.upload(s3, configuration.bucket, job.id, task);
        await this.repository.addTaskRetries(task.id, retries());
        await this.repository.completeTask(task.id, eventCount);
        return eventCount;
      } catch (error) {
        await this.repository.addTaskRetries(task.id, retries());
        const kind = classifyFailure(error);
        const reason = failureReason(error);
        if (kind === 'permanent') throw new ExportTaskFailure(reason, kind, error);
        if (kind === 'expired-credentials') credentials.invalidate();
        if (attempt >= this.options.maxTaskAttempts) throw new ExportTaskFailure(reason, kind, error);
        const delay = backoff(attempt, this.options.retryBaseDelayMs, this.options.retryMaxDelayMs);
        this.logger.info({ configurationId: configuration.id, taskId: task.id, attempt, delay, reason }, 'export task failed, retrying');
        await sleep(delay);
      } finally {
        s3.destroy();
      }
    }
  }
}

/** Exponential backoff with jitter (half fixed, half random), so workers retrying together spread out. */
function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
