import type { Pool, PoolClient } from 'pg';
import type { Logger } from '../common/logger';
import { connectionErrorFields } from '../database/connection-error';
import type { PlannedTask } from './export-job.repository';

/**
 * First key of the two-key advisory locks that claim one task of a job ('expt' in ASCII); the
 * second key is `hashtext(task id)`. Apart from the run locks' namespace ('expo'), so a task claim
 * never blocks a run; two tasks whose ids hash alike merely take turns.
 */
const EXPORT_TASK_LOCK_NAMESPACE = 0x65787074;

/**
 * One task held by this process: a session-level advisory lock on a connection kept while the task
 * runs. If the process dies, PostgreSQL ends the session and frees the lock, so any other worker (or
 * the job's run) takes the task over; nothing needs to expire first (docs/delivery-guarantees.md).
 */
export interface TaskClaim {
  /** The task of the job (as planned) this claim holds. */
  task: PlannedTask;
  /** Rejects with {@link TaskClaimLostError} once the claim's session has ended: someone else may hold the task now. */
  assertHeld(): Promise<void>;
  /** Gives the task back; safe to call more than once, and after the claim was lost. */
  release(): Promise<void>;
}

/** The claim's session ended (a restart, pg_terminate_backend): the task is left for whoever claims it next. */
export class TaskClaimLostError extends Error {
  constructor(
    readonly taskId: string,
    override readonly cause: unknown,
  ) {
    super(`The claim on export task ${taskId} was lost: its database session ended`);
    this.name = 'TaskClaimLostError';
  }
}

/**
 * The unfinished tasks of a job that is in progress. Ids only: what a task holds (its range, key,
 * and whatever planning fixes) is read with the job (ExportJobRepository), fixed since planning.
 */
const UNFINISHED_TASKS_SQL = `
  SELECT t.id::text AS id
    FROM export_job_tasks t JOIN export_jobs j ON j.id = t.job_id
   WHERE t.job_id = $1::uuid AND j.status = 'IN_PROGRESS' AND t.status NOT IN ('SUCCEEDED', 'SUPERSEDED')`;

/**
 * Claims of export tasks, so that the tasks of one job run at the same time in any number of
 * worker processes, each task in exactly one of them at a time. Reads and locks only: the tasks'
 * rows are written by ExportJobRepository, their owner.
 */
export class ExportTaskClaimRepository {
  constructor(
    private readonly pool: Pool,
    private readonly logger?: Logger,
  ) {}

  /**
   * Claims the first unfinished task of the job that nobody holds, or returns undefined when there
   * is none (all done, all held elsewhere, or the job is no longer in progress). Locks are tried
   * one task at a time from application code: `pg_try_advisory_lock` in a WHERE clause may be
   * evaluated for rows the query then drops, and would leave those locked.
   */
  async claimNext(job: { id: string; tasks: PlannedTask[] }): Promise<TaskClaim | undefined> {
    const jobId = job.id;
    const client = await this.pool.connect();
    let lost: Error | undefined;
    // As with the run lock: a checked-out client's session ending is an 'error' event nobody else hears.
    const onError = (error: Error) => {
      if (lost) return;
      lost = error;
      this.logger?.warn({ err: connectionErrorFields(error), jobId }, 'export task claim lost: its database session ended; the task goes to whoever claims it next');
    };
    client.on('error', onError);
    let claimed: PlannedTask | undefined;
    try {
      const candidates = await client.query<{ id: string }>(`${UNFINISHED_TASKS_SQL} ORDER BY t."offset"`, [jobId]);
      for (const candidate of candidates.rows) {
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [EXPORT_TASK_LOCK_NAMESPACE, candidate.id]);
        if (!rows[0]?.locked) continue;
        // Read again under the lock: the task may have been finished (and its lock given back)
        // between the list above and the lock, and must not be delivered a second time.
        const current = await client.query<{ id: string }>(`${UNFINISHED_TASKS_SQL} AND t.id = $2::uuid`, [jobId, candidate.id]);
        const planned = job.tasks.find((task) => task.id === candidate.id);
        if (current.rows[0] && planned) {
          claimed = planned;
          break;
        }
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [EXPORT_TASK_LOCK_NAMESPACE, candidate.id]);
      }
    } catch (error) {
      client.off('error', onError);
      // Destroyed, not handed back: ending the session frees any lock taken above.
      client.release(error as Error);
      throw error;
    }
    if (!claimed) {
      client.off('error', onError);
      client.release();
      return undefined;
    }
    return holdClaim(client, claimed, () => lost, onError);
  }
}

function holdClaim(client: PoolClient, task: PlannedTask, lost: () => Error | undefined, onError: (error: Error) => void): TaskClaim {
  let released = false;
  return {
    task,
    assertHeld: async () => {
      // A session that answers still holds its session-level locks.
      if (!lost() && !released) await client.query('SELECT 1').catch((error: Error) => onError(error));
      const cause = lost();
      if (cause) throw new TaskClaimLostError(task.id, cause);
      if (released) throw new Error(`The claim on export task ${task.id} was already released`);
    },
    release: async () => {
      if (released) return;
      released = true;
      try {
        const cause = lost();
        if (cause) {
          client.release(cause);
          return;
        }
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [EXPORT_TASK_LOCK_NAMESPACE, task.id]);
        client.release();
      } catch (error) {
        // Destroying the connection ends the session, which frees the lock as well.
        client.release(error as Error);
      } finally {
        client.off('error', onError);
      }
    },
  };
}
