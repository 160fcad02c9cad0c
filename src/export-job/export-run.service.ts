import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AwsCredentials, CredentialSource } from '../aws/aws-client.factory';
import { objectEncryption } from '../aws/server-side-encryption';
import type { Logger } from '../common/logger';
import { connectionFailureStatus } from '../connection-test/connection-test.service';
import type { ExportTrigger } from '../generated/prisma/enums';
import { RefreshingCredentials } from './export-credentials';
import { ExportTaskFailure, failureReason } from './export-failure';
import type { ExportJobRepository, PlannedJob, PlannedTask, RunConfiguration, RunLock } from './export-job.repository';
import { exportObjectKey, roleArnAccount, type ObjectKeyLayout } from './export-object-key';
import { formatExtension } from '../delivery-format/delivery-format.registry';
import { NO_EXPORT_RUN_METRICS, type ExportRunMetrics } from './export-run.metrics';
import type { ExportTaskUploader } from './export-task.uploader';
import { attemptStep } from './export-step.attempt';
import { ExportTaskExecutor } from './export-task.executor';
import type { ExportDigestWriter } from './export-digest.writer';
import { INTERVAL_MS } from '../export-schedule/export-queue';

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
  /** Tries of one task within a run (transient failures) before the run gives up until its retry. */
  maxTaskAttempts: number;
  /** Exponential backoff between task tries: base, doubled each time, capped; with jitter. */
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** Tries of one S3 request by the SDK itself before the task try fails. */
  requestMaxAttempts: number;
  /**
   * EXPORT_RETRY_BASE_DELAY_MS: a failed job is tried again after this long, doubled with each
   * further failure, capped at the configuration's interval (the schedule would run it then anyway).
   */
  jobRetryBaseDelayMs: number;
  /** EXPORT_AUTO_DISABLE_AFTER_MS: persistent failure this long disables the configuration (unset: never). */
  autoDisableAfterMs?: number;
  /** EXPORT_TASK_CONCURRENCY: tasks this process uploads at once, over all its runs and helpers (default 1: one after another). */
  taskConcurrency?: number;
  /** How often a run whose remaining tasks are held by other workers looks whether they are done (default 250 ms). */
  taskPollMs?: number;
}

/** Most workers one job asks for help (one BullMQ job each); more would only wait in the queue and find nothing left. */
const MAX_TASK_HELPERS = 8;

export const DEFAULT_RUN_OPTIONS: Omit<ExportRunOptions, 'maxEventsPerTask'> = {
  maxTaskAttempts: 5,
  retryBaseDelayMs: 1_000,
  retryMaxDelayMs: 30_000,
  requestMaxAttempts: 3,
  jobRetryBaseDelayMs: 60_000,
};

/**
 * Where a failed job's next try is queued (BullmqExportSchedule fits). Best effort: if the queue
 * is unreachable, the worker's reconcile loop enqueues overdue retries from PostgreSQL.
 */
export interface ExportRetryScheduler {
  scheduleRetry(retry: { configurationId: string; jobId: string; failureCount: number; runAt: Date }): Promise<void>;
  /** Removes the job scheduler of a configuration the run disabled (persistent failure). */
  remove?(configurationId: string): Promise<void>;
  /** Asks other workers to take tasks of a job in progress (issue #11); without it a run does its tasks alone. */
  requestTaskHelp?(request: { configurationId: string; exportJobId: string; helpers: number }): Promise<void>;
}

export type RunOutcome =
  | { status: 'skipped'; reason: string }
  | { status: 'nothing-to-export' }
  | { status: 'succeeded'; jobIds: string[]; eventCount: number }
  | { status: 'failed'; jobId: string; reason: string; nextRetryAt: Date };

type JobOutcome = { status: 'succeeded'; eventCount: number } | { status: 'superseded'; reason: string } | { status: 'failed'; jobId: string; reason: string; nextRetryAt: Date };

/** A run goes round again at once for runs asked for while it delivered; bounded so a flood of requests cannot pin a worker. */
const MAX_ROUNDS_PER_RUN = 10;

/**
 * One export run of a configuration: finish what an earlier run left (a crash, a failure), then
 * deliver everything new, job by job, task by task. Exactly once comes from three rules:
 * objects have keys fixed at planning (a retry overwrites), a job's cursor moves only in the
 * transaction that marks it SUCCEEDED, and only one run per configuration at a time
 * (docs/delivery-guarantees.md has the whole argument). A job planned with integrity validation
 * also writes its signed digest, after its objects and before it completes
 * (docs/integrity-digests.md).
 */
export class ExportRunService {
  private readonly tasks: ExportTaskExecutor;

  constructor(
    private readonly repository: ExportJobRepository,
    private readonly uploader: ExportTaskUploader,
    private readonly digests: Pick<ExportDigestWriter, 'write'>,
    private readonly aws: ExportAwsClients,
    private readonly options: ExportRunOptions,
    private readonly logger: Logger,
    private readonly retries?: ExportRetryScheduler,
    private readonly now: () => Date = () => new Date(),
    private readonly metrics: ExportRunMetrics = NO_EXPORT_RUN_METRICS,
  ) {
    this.tasks = new ExportTaskExecutor(repository, repository.taskClaims(), uploader, { aws, options, logger, metrics }, options.taskConcurrency ?? 1, logger, metrics);
  }

  /**
   * Takes tasks of a job another run (in this or another worker) has in progress, as asked through
   * the queue; returns how many this worker delivered. See docs/delivery-guarantees.md, "Parallel tasks".
   */
  helpWithTasks(exportJobId: string): Promise<number> {
    return this.tasks.help(exportJobId);
  }

  /** On shutdown: helpers claim no more tasks; runs still finish their jobs. */
  stopHelping(): void {
    this.tasks.stopHelping();
  }

  /**
   * Runs the configuration's export. A run that finds another one in progress returns at once:
   * the one in progress checks for runs asked for meanwhile (`run_requested_at`) after it has
   * released its lock and goes round again for them, so a requested run is never dropped.
   */
  async run(configurationId: string, trigger: ExportTrigger, options: { resumeInterrupted?: boolean } = {}): Promise<RunOutcome> {
    const started = process.hrtime.bigint();
    const outcome = await this.runRounds(configurationId, trigger, options);
    this.metrics.runEnded(outcome.status, Number(process.hrtime.bigint() - started) / 1e9);
    return outcome;
  }

  private async runRounds(configurationId: string, trigger: ExportTrigger, options: { resumeInterrupted?: boolean }): Promise<RunOutcome> {
    let outcome: RunOutcome = { status: 'nothing-to-export' };
    for (let round = 1; ; round += 1) {
      const lock = await this.repository.tryLockConfiguration(configurationId);
      if (!lock) {
        this.logger.info({ configurationId, trigger }, 'export run skipped: another run of this configuration is in progress and will honour this request');
        return round === 1 ? { status: 'skipped', reason: 'another run is in progress' } : outcome;
      }
      let roundOutcome: RunOutcome;
      try {
        roundOutcome = await this.runLocked(configurationId, round === 1 ? trigger : 'MANUAL', options.resumeInterrupted === true, lock);
      } finally {
        await lock.release();
      }
      outcome = mergeOutcomes(outcome, roundOutcome);
      if (roundOutcome.status === 'failed' || roundOutcome.status === 'skipped' || round >= MAX_ROUNDS_PER_RUN) return outcome;
      // Checked after the lock is released: a request whose own queued run found the lock taken
      // is seen here, and a request made after this check finds the lock free.
      if ((await this.repository.pendingRunRequest(configurationId)) === null) return outcome;
      this.logger.info({ configurationId }, 'a run was asked for during this run: running again at once');
    }
  }

  /**
   * `resumeInterrupted`: a job a dead worker left IN_PROGRESS is finished even when the
   * configuration was disabled meanwhile (it was running when the worker died); nothing new is
   * planned for a disabled configuration then.
   */
  private async runLocked(configurationId: string, trigger: ExportTrigger, resumeInterrupted: boolean, lock: RunLock): Promise<RunOutcome> {
    const configuration = await this.repository.findConfiguration(configurationId);
    if (!configuration) return { status: 'skipped', reason: 'configuration not found' };
    // Read after the lock is taken and before anything is planned: this run covers that request.
    const requestSeen = await this.repository.pendingRunRequest(configurationId);
    // A scheduled job can still be queued after its configuration was disabled; a run someone
    // asked for is an explicit request and runs anyway.
    const skipDisabled = trigger === 'SCHEDULED' && requestSeen === null && !configuration.enabled;
    if (skipDisabled && !resumeInterrupted) return { status: 'skipped', reason: 'configuration disabled' };
    try {
      return await this.deliver(configuration, requestSeen === null ? trigger : 'MANUAL', { planNew: !skipDisabled, resumeFailed: !skipDisabled }, lock);
    } finally {
      if (requestSeen !== null) await this.repository.clearRunRequest(configurationId, requestSeen);
    }
  }

  private async deliver(configuration: RunConfiguration, trigger: ExportTrigger, scope: { planNew: boolean; resumeFailed: boolean }, lock: RunLock): Promise<RunOutcome> {
    const configurationId = configuration.id;
    const credentials = new RefreshingCredentials(() => this.aws.credentialsFor(configuration));
    const done: string[] = [];
    let eventCount = 0;

    const found = await this.repository.findUnfinishedJob(configurationId);
    // Only an interrupted job (not a FAILED one, which waits for its retry) is finished for a disabled configuration.
    const unfinished = found && (scope.resumeFailed || found.status !== 'FAILED') ? found : null;
    if (unfinished && unfinished.fromSequence !== configuration.cursor) {
      // It can never complete (the cursor guard would fail): close it before it delivers anything.
      await this.supersedeForCursor(configuration, unfinished);
    } else if (unfinished && !sameDestination(unfinished, configuration)) {
      // Its keys were fixed under the old bucket/path. It is re-planned for the new destination from
      // the same cursor (the job never completed, so the cursor is where it started): every event
      // reaches the new destination exactly once; objects it already wrote stay at the old one.
      const reason = `Superseded: the destination changed from ${describeDestination(unfinished)} to ${describeDestination(configuration)} before the job completed; its events are delivered again by the next job`;
      await this.repository.supersedeJob(unfinished.id, reason);
      this.metrics.jobEnded('superseded');
      this.logger.warn({ configurationId, jobId: unfinished.id }, 'unfinished export job superseded: destination changed');
    } else if (unfinished) {
      this.logger.info({ configurationId, jobId: unfinished.id, status: unfinished.status }, 'resuming unfinished export job');
      await this.repository.resumeJob(unfinished.id);
      const outcome = await this.executeJob(configuration, unfinished, credentials, lock);
      if (outcome.status === 'failed') return outcome;
      if (outcome.status === 'succeeded') {
        done.push(unfinished.id);
        eventCount += outcome.eventCount;
      }
    }

    if (!scope.planNew) return deliveredOutcome(done, eventCount);
    // Planning without the lock could plan the same events twice (see RunLock.assertHeld).
    await lock.assertHeld();
    const job = await this.repository.planJob({
      configurationId,
      trigger,
      bucket: configuration.bucket,
      path: configuration.path,
      maxEventsPerTask: this.options.maxEventsPerTask,
      startedAt: this.now(),
      // The delivery settings as they are now are fixed into the job (docs/delivery-formats.md).
      delivery: { format: configuration.format, partitioning: configuration.partitioning, eventFilter: configuration.eventFilter },
      objectKey: (planned, offset, partitionStart) => exportObjectKey(objectKeyLayout(configuration), planned, { offset, partitionStart }),
    });
    if (job) {
      this.logger.info({ configurationId, jobId: job.id, tasks: job.tasks.length, from: job.fromSequence.toString(), to: job.toSequence.toString() }, 'export job planned');
      const outcome = await this.executeJob(configuration, job, credentials, lock);
      if (outcome.status === 'failed') return outcome;
      if (outcome.status === 'succeeded') {
        done.push(job.id);
        eventCount += outcome.eventCount;
      }
    }
    return deliveredOutcome(done, eventCount);
  }

  private async executeJob(configuration: RunConfiguration, job: PlannedJob, credentials: RefreshingCredentials, lock: RunLock): Promise<JobOutcome> {
    // Issue #11: the tasks run concurrently, here (up to taskConcurrency) and in any worker that
    // answers the request for help; each task is claimed in PostgreSQL, so it runs in one place at a
    // time. Only this run, which holds the configuration's lock, fails the job or completes it.
    await this.askForHelp(job);
    for (;;) {
      // A run whose lock went with its session (a database restart) stops claiming and leaves the
      // job IN_PROGRESS, writing nothing more: another run may own it now. The next run resumes it.
      const { failure } = await this.tasks.drain({ configuration, job, credentials, role: 'lead', beforeClaim: () => lock.assertHeld() });
      if (failure) {
        // Without the lock, marking the job FAILED could overwrite another run's SUCCEEDED.
        await lock.assertHeld();
        return this.failJob(configuration, job, { task: failure.task }, failure.error);
      }
      if ((await this.repository.unfinishedTaskCount(job.id)) === 0) break;
      // The tasks left are held by other workers: wait until they are delivered, or until a dead
      // worker's claim is freed with its session and the next drain takes the task over.
      await lock.assertHeld();
      await sleep(this.options.taskPollMs ?? 250);
    }
    // Every task is delivered, and a task's count is checked against its planned size on delivery.
    const eventCount = job.tasks.reduce((sum, task) => sum + task.limit, 0);
    if (job.digest) {
      // Before the completing transaction, which stays as it was: a crash or failure in between
      // leaves the job unfinished, and its retry writes the same digest again (docs/integrity-digests.md).
      await lock.assertHeld();
      try {
        await attemptStep(
          { aws: this.aws, options: this.options, logger: this.logger, metrics: this.metrics },
          configuration,
          credentials,
          { jobId: job.id, step: 'digest' },
          (s3) => this.digests.write(s3, job, objectEncryption(configuration)),
        );
      } catch (error) {
        await lock.assertHeld();
        return this.failJob(configuration, job, { step: 'The digest' }, error);
      }
    }
    await lock.assertHeld();
    if (!(await this.repository.completeJob(job, eventCount))) return this.supersedeForCursor(configuration, job);
    this.metrics.jobEnded('succeeded');
    this.logger.info({ configurationId: configuration.id, jobId: job.id, eventCount }, 'export job succeeded');
    return { status: 'succeeded', eventCount };
  }

  /**
   * Closes a job whose starting point is no longer the cursor. Only runs that were not kept apart,
   * or a hand-edited cursor, get here; the job can never complete, and left open it would block
   * every later job of the configuration.
   */
  private async supersedeForCursor(configuration: RunConfiguration, job: PlannedJob): Promise<JobOutcome> {
    const reason = `Superseded: the configuration's cursor is no longer at sequence ${job.fromSequence} where this job started`;
    await this.repository.supersedeJob(job.id, reason);
    this.metrics.jobEnded('superseded');
    this.logger.error({ configurationId: configuration.id, jobId: job.id }, 'export job superseded: its cursor guard failed');
    return { status: 'superseded', reason };
  }

  /**
   * Records the failure of a task (or of the job's digest), and queues the job's next try with
   * backoff (within the interval), unless the failure disabled the configuration for good.
   */
  private async failJob(configuration: RunConfiguration, job: PlannedJob, failed: { task: PlannedTask } | { step: string }, error: unknown): Promise<JobOutcome> {
    const failure = error instanceof ExportTaskFailure ? error : new ExportTaskFailure(failureReason(error), 'transient', error);
    // A failed task was recorded FAILED by the executor, while it still held the task's claim.
    // Only a permanent failure says something about the bucket or the credentials; the text has
    // the connection test's form, so connectionStatus reads the same whoever found the problem.
    const connectionStatus = failure.kind === 'permanent' ? connectionFailureStatus(configuration, failure.message) : undefined;
    const reason = `${'task' in failed ? `Task at offset ${failed.task.offset}` : failed.step} failed: ${failure.message}`;
    const { failureCount, nextRetryAt, disabled } = await this.repository.failJob(job.id, {
      reason,
      connectionStatus,
      retryDelayMs: (failures) => jobRetryDelayMs(failures, this.options.jobRetryBaseDelayMs, INTERVAL_MS[configuration.interval]),
      autoDisableAfterMs: this.options.autoDisableAfterMs,
    });
    this.metrics.jobEnded('failed');
    const taskId = 'task' in failed ? failed.task.id : undefined;
    this.logger.warn({ configurationId: configuration.id, jobId: job.id, taskId, kind: failure.kind, reason: failure.message, failureCount, nextRetryAt }, 'export job failed');
    if (disabled) {
      // PostgreSQL says disabled already; the scheduler is removed best effort (a queued run of a
      // disabled configuration is skipped, and the reconcile loop removes a scheduler left behind).
      this.logger.error({ configurationId: configuration.id }, 'export configuration disabled after persistent failure');
      await this.retries
        ?.remove?.(configuration.id)
        .catch((removeError: unknown) => this.logger.error({ err: removeError, configurationId: configuration.id }, 'could not remove the scheduler of a disabled configuration'));
      return { status: 'failed', jobId: job.id, reason: failure.message, nextRetryAt };
    }
    try {
      await this.retries?.scheduleRetry({ configurationId: configuration.id, jobId: job.id, failureCount, runAt: nextRetryAt });
    } catch (scheduleError) {
      // PostgreSQL has next_retry_at; the reconcile loop queues overdue retries.
      this.logger.error({ err: scheduleError, configurationId: configuration.id, jobId: job.id }, 'could not queue the retry of a failed export job');
    }
    return { status: 'failed', jobId: job.id, reason: failure.message, nextRetryAt };
  }

  /** Best effort: without helpers (Redis down, a single worker) the run does every task itself. */
  private async askForHelp(job: PlannedJob): Promise<void> {
    const left = job.tasks.filter((task) => task.status !== 'SUCCEEDED').length;
    const helpers = Math.min(left - 1, MAX_TASK_HELPERS);
    if (!this.retries?.requestTaskHelp || helpers <= 0) return;
    try {
      await this.retries.requestTaskHelp({ configurationId: job.configurationId, exportJobId: job.id, helpers });
    } catch (error) {
      this.logger.warn({ err: error, configurationId: job.configurationId, jobId: job.id }, 'could not ask other workers for help with export tasks; this run does them alone');
    }
  }
}

/**
 * Delay before a failed job's next try: the base after the first failure, doubling with each
 * further one, never longer than the configuration's interval.
 */
export function jobRetryDelayMs(failures: number, baseMs: number, intervalMs: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(baseMs * 2 ** exponent, intervalMs);
}

/**
 * How the configuration's keys are laid out. SECURITY_LAKE's account: the one the admin gave, else
 * the role ARN's (validation requires one for access-key configurations).
 */
function objectKeyLayout(configuration: RunConfiguration): ObjectKeyLayout {
  return {
    configurationId: configuration.id,
    path: configuration.path,
    partitioning: configuration.partitioning,
    objectNaming: configuration.objectNaming,
    extension: formatExtension(configuration.format),
    region: configuration.region,
    accountId: configuration.securityLakeAccountId ?? roleArnAccount(configuration.roleArn ?? null),
  };
}

function sameDestination(job: Pick<PlannedJob, 'bucket' | 'path'>, configuration: Pick<RunConfiguration, 'bucket' | 'path'>): boolean {
  return job.bucket === configuration.bucket && (job.path ?? null) === (configuration.path ?? null);
}

function describeDestination(destination: { bucket: string; path: string | null }): string {
  return `s3://${destination.bucket}/${destination.path ? `${destination.path}/` : ''}`;
}

function deliveredOutcome(jobIds: string[], eventCount: number): RunOutcome {
  return jobIds.length === 0 ? { status: 'nothing-to-export' } : { status: 'succeeded', jobIds, eventCount };
}

/** The outcome of a run that went round more than once. */
function mergeOutcomes(before: RunOutcome, after: RunOutcome): RunOutcome {
  if (before.status !== 'succeeded') return after;
  if (after.status === 'succeeded') return { status: 'succeeded', jobIds: [...before.jobIds, ...after.jobIds], eventCount: before.eventCount + after.eventCount };
  return after.status === 'failed' ? after : before;
}
