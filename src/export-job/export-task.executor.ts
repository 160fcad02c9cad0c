import { objectEncryption } from '../aws/server-side-encryption';
import type { Logger } from '../common/logger';
import { Slots } from '../common/slots';
import { RefreshingCredentials } from './export-credentials';
import { ExportTaskFailure, failureReason } from './export-failure';
import type { ExportJobRepository, PlannedJob, PlannedTask, RunConfiguration } from './export-job.repository';
import type { ExportRunMetrics } from './export-run.metrics';
import { attemptStep, type StepAttemptDependencies } from './export-step.attempt';
import { TaskClaimLostError, type ExportTaskClaimRepository, type TaskClaim } from './export-task-claim.repository';
import { countClientRetries, type ExportTaskUploader } from './export-task.uploader';

/** What a drain works on: one job of one configuration, with the configuration's credentials. */
export interface TaskDrain {
  configuration: RunConfiguration;
  job: PlannedJob;
  credentials: RefreshingCredentials;
  /**
   * The job's run (`lead`) holds the configuration's lock, checks it before each claim, and records
   * a task's failure; a `helper` (another worker asked through the queue) gives a task it could not
   * deliver back untouched, so that only the run ever fails a task or the job.
   */
  role: 'lead' | 'helper';
  beforeClaim?: () => Promise<void>;
}

/** The first task of a drain that failed for good, with why. */
export interface TaskDrainFailure {
  task: PlannedTask;
  error: ExportTaskFailure;
}

/**
 * Runs the tasks of export jobs, several at a time (issue #11): at most `concurrency` tasks upload
 * at once in this process, whichever jobs and whichever role they belong to, so that a worker's
 * memory stays bounded by concurrency × (queueSize + 1) × part size. Each task is claimed in
 * PostgreSQL first (ExportTaskClaimRepository), so that other worker processes draining the same
 * job never run it at the same time (docs/delivery-guarantees.md, "Parallel tasks").
 */
export class ExportTaskExecutor {
  private readonly slots: Slots;
  /** Set when the process shuts down: helpers claim nothing more (runs go on, and finish their jobs). */
  private helpingStopped = false;

  constructor(
    private readonly repository: ExportJobRepository,
    private readonly claims: ExportTaskClaimRepository,
    private readonly uploader: ExportTaskUploader,
    private readonly attempts: StepAttemptDependencies,
    concurrency: number,
    private readonly logger: Logger,
    private readonly metrics: ExportRunMetrics,
  ) {
    this.slots = new Slots(concurrency, 'Task concurrency');
  }

  /**
   * Claims and runs the job's tasks, as many at once as this process has free slots, until none is
   * left to claim (done, or held by other workers) or one failed for good; returns that failure.
   * Tasks already running are always let finish before this returns or throws.
   */
  async drain(drain: TaskDrain): Promise<{ delivered: number; failure?: TaskDrainFailure }> {
    const running = new Set<Promise<void>>();
    let failure: TaskDrainFailure | undefined;
    let delivered = 0;
    try {
      while (failure === undefined) {
        const freeSlot = await this.slots.acquire();
        let claim: TaskClaim | undefined;
        try {
          // Checked after waiting for the slot: a task may have failed meanwhile.
          if (failure === undefined && !(drain.role === 'helper' && this.helpingStopped)) {
            await drain.beforeClaim?.();
            claim = await this.claims.claimNext(drain.job);
          }
        } catch (error) {
          freeSlot();
          throw error;
        }
        if (!claim) {
          freeSlot();
          if (failure !== undefined || running.size === 0) break;
          // Nothing to claim now, but a task of ours is still running: claim again once one ends.
          await Promise.race(running);
          continue;
        }
        const held = claim;
        const execution: Promise<void> = this.execute(drain, held)
          .then(() => {
            delivered += 1;
          })
          .catch((error: unknown) => {
            // A lost claim is no failure: the task is free again, for this drain or another one.
            if (error instanceof TaskClaimLostError) return;
            failure ??= { task: held.task, error: error as ExportTaskFailure };
          })
          .finally(async () => {
            await held.release();
            freeSlot();
            running.delete(execution);
          });
        running.add(execution);
      }
    } finally {
      await Promise.allSettled([...running]);
    }
    return { delivered, failure };
  }

  /**
   * Helpers finish the tasks they hold and claim no more (a worker shutting down: BullMQ waits for
   * its active jobs, and a helper would otherwise go on until the whole job is done).
   */
  stopHelping(): void {
    this.helpingStopped = true;
  }

  /**
   * A worker asked to help with a job in progress: takes its tasks until none is left to claim.
   * A job that is not in progress, or whose destination is no longer the configuration's, is left
   * alone (its run supersedes or resumes it). Returns the number of tasks it delivered.
   */
  async help(exportJobId: string): Promise<number> {
    const job = await this.repository.findJob(exportJobId);
    if (!job || job.status !== 'IN_PROGRESS') return 0;
    const configuration = await this.repository.findConfiguration(job.configurationId);
    if (!configuration || configuration.bucket !== job.bucket || (configuration.path ?? null) !== (job.path ?? null)) return 0;
    const credentials = new RefreshingCredentials(() => this.attempts.aws.credentialsFor(configuration));
    const { delivered, failure } = await this.drain({ configuration, job, credentials, role: 'helper' });
    if (failure) {
      this.logger.warn(
        { configurationId: job.configurationId, jobId: job.id, taskId: failure.task.id, reason: failure.error.message },
        'export task failed in a helping worker: left to the job run, which tries it again and records the failure',
      );
    }
    return delivered;
  }

  /** Tries the claimed task until it succeeds, fails for good, or the claim is lost; a lead records a failure while it still holds the task. */
  private async execute(drain: TaskDrain, claim: TaskClaim): Promise<void> {
    const { configuration, job, credentials } = drain;
    const { task } = claim;
    try {
      await attemptStep(this.attempts, configuration, credentials, { taskId: task.id, step: 'task' }, async (s3) => {
        await this.repository.startTaskAttempt(task.id);
        const retries = countClientRetries(s3);
        try {
          const { eventCount, object } = await this.uploader.upload(s3, { bucket: job.bucket, encryption: objectEncryption(configuration) }, job, task);
          this.metrics.objectUploaded(configuration.id, { eventCount, bytes: object.bytes });
          await this.repository.addTaskRetries(task.id, retries());
          // A claim lost during the upload: another worker may be sending the same object now, and
          // records it itself; this one records nothing (its bytes are the same events, same key).
          await claim.assertHeld();
          await this.repository.completeTask(task.id, eventCount, object);
          this.metrics.taskEnded('succeeded');
          this.logger.info({ configurationId: configuration.id, jobId: job.id, taskId: task.id, offset: task.offset, role: drain.role, pid: process.pid }, 'export task delivered');
        } catch (error) {
          await this.repository.addTaskRetries(task.id, retries());
          throw error;
        } finally {
          this.metrics.retried('client', retries());
        }
      });
    } catch (error) {
      if (error instanceof TaskClaimLostError) throw error;
      const failure = error instanceof ExportTaskFailure ? error : new ExportTaskFailure(failureReason(error), 'transient', error);
      if (drain.role === 'lead') {
        await this.repository.failTask(task.id, failure.message);
        this.metrics.taskEnded('failed');
      }
      throw failure;
    }
  }
}
