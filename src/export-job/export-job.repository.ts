import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from '../common/logger';
import type { ConnectionTarget } from '../connection-test/connection-test.service';
import { connectionErrorFields } from '../database/connection-error';
import { DisconnectSafeQueryStream } from '../database/disconnect-safe-query-stream';
import type { PrismaClient } from '../database/prisma';
import type { ExportStatus, ExportTrigger } from '../generated/prisma/enums';

/**
 * First key of the two-key advisory locks that keep export runs of one configuration apart
 * ('expo' in ASCII); the second key is `hashtext(configuration id)`. Two-key locks never collide
 * with the one-key lock of audit event inserts (PostgreSQL keeps the key spaces apart); two
 * configurations whose ids hash alike merely take turns.
 */
const EXPORT_RUN_LOCK_NAMESPACE = 0x6578706f;

/** Held for the whole run; `release()` gives it back. */
export interface RunLock {
  /**
   * Resolves when the lock's session answers, i.e. the lock is still held; rejects with
   * {@link RunLockLostError} once that session has ended (a PostgreSQL restart or failover,
   * `pg_terminate_backend`): PostgreSQL freed the lock with it, so another run may hold it now.
   */
  assertHeld(): Promise<void>;
  /** Gives the lock back; safe to call more than once, and after the lock was lost. */
  release(): Promise<void>;
}

/**
 * The run's lock went with its PostgreSQL session. The run must stop writing (another run may be
 * planning or completing the same configuration); its job stays as it is, and the next run resumes it.
 */
export class RunLockLostError extends Error {
  constructor(
    readonly configurationId: string,
    override readonly cause: unknown,
  ) {
    // The session's own error is the cause (loggers print it after this message).
    super(`The export run lock of configuration ${configurationId} was lost: its database session ended`);
    this.name = 'RunLockLostError';
  }
}

/** What a run needs of its configuration (a Prisma row fits). */
export interface RunConfiguration extends ConnectionTarget {
  enabled: boolean;
}

export interface PlannedTask {
  id: string;
  offset: number;
  limit: number;
  fromSequence: bigint;
  toSequence: bigint;
  objectKey: string;
  status: ExportStatus;
  attempts: number;
}

export interface PlannedJob {
  id: string;
  configurationId: string;
  status: ExportStatus;
  fromSequence: bigint;
  toSequence: bigint;
  startTimestamp: Date | null;
  tasks: PlannedTask[];
}

export interface PlanRequest {
  configurationId: string;
  trigger: ExportTrigger;
  maxEventsPerTask: number;
  startedAt: Date;
  /** The object key of a task, fixed now so that every retry writes the same object. */
  objectKey: (job: { id: string; startedAt: Date }, offset: number) => string;
}

const TASK_SELECT = { id: true, offset: true, limit: true, fromSequence: true, toSequence: true, objectKey: true, status: true, attempts: true } as const;

/** Export jobs and tasks, the cursor, and the SQL that makes runs exclusive and streams events. */
export class ExportJobRepository {
  constructor(
    private readonly prisma: PrismaClient,
    /** node-postgres pool: the run lock needs one session for the whole run, and streaming needs a cursor. */
    private readonly pool: Pool,
    /** Where a lost run lock is reported. */
    private readonly logger?: Logger,
  ) {}

  /**
   * Takes the configuration's run lock without waiting; undefined when another run (in any process)
   * holds it. A session-level advisory lock on a connection kept for the run: if the process dies,
   * PostgreSQL closes the session and frees the lock, so a crash never blocks later runs.
   */
  async tryLockConfiguration(configurationId: string): Promise<RunLock | undefined> {
    const client = await this.pool.connect();
    // A checked-out client has no listener of the pool's, and this one sits idle between the
    // run's steps: without a listener of ours, its session ending (57P01 on a restart, failover or
    // pg_terminate_backend) is an unhandled 'error' event, which ends the whole process.
    let lost: Error | undefined;
    const onError = (error: Error) => {
      if (lost) return;
      lost = error;
      this.logger?.warn({ err: connectionErrorFields(error), configurationId }, 'export run lock lost: its database session ended, so PostgreSQL freed the lock; the run stops and the next run resumes its job');
    };
    client.on('error', onError);
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [EXPORT_RUN_LOCK_NAMESPACE, configurationId]);
      if (!rows[0]?.locked) {
        client.off('error', onError);
        client.release();
        return undefined;
      }
    } catch (error) {
      client.off('error', onError);
      client.release(error as Error);
      throw error;
    }
    let released = false;
    return {
      assertHeld: async () => {
        if (!lost && !released) {
          // A session that answers still holds its session-level locks.
          await client.query('SELECT 1').catch((error: Error) => onError(error));
        }
        if (lost) throw new RunLockLostError(configurationId, lost);
        if (released) throw new Error(`The export run lock of configuration ${configurationId} was already released`);
      },
      release: async () => {
        if (released) return;
        released = true;
        try {
          // A lost session holds nothing any more, and cannot be asked to unlock.
          if (lost) {
            client.release(lost);
            return;
          }
          await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [EXPORT_RUN_LOCK_NAMESPACE, configurationId]);
          client.release();
        } catch (error) {
          // Destroying the connection ends the session, which frees the lock as well.
          client.release(error as Error);
        } finally {
          // The pool listens again from release() on (errors of a destroyed client go to it too).
          client.off('error', onError);
        }
      },
    };
  }

  findConfiguration(configurationId: string): Promise<RunConfiguration | null> {
    return this.prisma.exportConfiguration.findUnique({
      where: { id: configurationId },
      select: { id: true, enabled: true, endpointType: true, bucket: true, path: true, region: true, accessKeyId: true, secretCiphertext: true, roleArn: true },
    });
  }

  /**
   * The job a previous run left unfinished (a crash, or a failure), if any. There is at most one:
   * a run always finishes or resumes it before planning a new one, and the cursor only moves when
   * a job succeeds.
   */
  findUnfinishedJob(configurationId: string): Promise<PlannedJob | null> {
    return this.prisma.exportJob.findFirst({
      where: { configurationId, status: { not: 'SUCCEEDED' } },
      orderBy: { createdAt: 'asc' },
      select: { id: true, configurationId: true, status: true, fromSequence: true, toSequence: true, startTimestamp: true, tasks: { select: TASK_SELECT, orderBy: { offset: 'asc' } } },
    });
  }

  /**
   * Plans a job over the events after the cursor up to the newest one now, split into tasks of at
   * most `maxEventsPerTask` events. Because inserts keep committed events a prefix of the sequence
   * (see AuditEventRepository), every event up to `max(sequence)` is already committed and the
   * task boundaries found here never change. Returns null when there is nothing new.
   */
  async planJob(request: PlanRequest): Promise<PlannedJob | null> {
    return this.prisma.$transaction(
      async (tx) => {
        const configuration = await tx.exportConfiguration.findUniqueOrThrow({ where: { id: request.configurationId }, select: { cursor: true } });
        const from = configuration.cursor;
        // Every task boundary: the sequence of each maxEventsPerTask-th event, and of the last one.
        const boundaries = await tx.$queryRawUnsafe<Array<{ sequence: bigint; position: bigint }>>(
          `WITH newest AS (SELECT max(sequence) AS sequence FROM audit_events)
           SELECT numbered.sequence, numbered.position
             FROM (SELECT e.sequence, row_number() OVER (ORDER BY e.sequence) AS position
                     FROM audit_events e, newest
                    WHERE e.sequence > $1 AND e.sequence <= newest.sequence) numbered, newest
            WHERE numbered.position % $2 = 0 OR numbered.sequence = newest.sequence
            ORDER BY numbered.sequence`,
          from,
          request.maxEventsPerTask,
        );
        if (boundaries.length === 0) return null;

        const id = randomUUID();
        const tasks: PlannedTask[] = [];
        let previous = { sequence: from, position: 0 };
        for (const boundary of boundaries) {
          const position = Number(boundary.position);
          tasks.push({
            id: randomUUID(),
            offset: previous.position,
            limit: position - previous.position,
            fromSequence: previous.sequence,
            toSequence: boundary.sequence,
            objectKey: request.objectKey({ id, startedAt: request.startedAt }, previous.position),
            status: 'PENDING',
            attempts: 0,
          });
          previous = { sequence: boundary.sequence, position };
        }
        const toSequence = previous.sequence;
        await tx.exportJob.create({
          data: {
            id,
            configurationId: request.configurationId,
            trigger: request.trigger,
            status: 'IN_PROGRESS',
            fromSequence: from,
            toSequence,
            eventCount: previous.position,
            startTimestamp: request.startedAt,
            tasks: { createMany: { data: tasks.map(({ status: _status, attempts: _attempts, ...task }) => task) } },
          },
        });
        return { id, configurationId: request.configurationId, status: 'IN_PROGRESS' as const, fromSequence: from, toSequence, startTimestamp: request.startedAt, tasks };
      },
      { timeout: 120_000, maxWait: 30_000 },
    );
  }

  /** A resumed job is in progress again; its earlier failure is history once it succeeds. */
  async resumeJob(jobId: string): Promise<void> {
    await this.prisma.$executeRaw`UPDATE export_jobs SET status = 'IN_PROGRESS', failure_reason = NULL, end_timestamp = NULL, start_timestamp = coalesce(start_timestamp, now()) WHERE id = ${jobId}::uuid`;
  }

  /** One more try of a task (a retry when it had tries before, e.g. before a crash). */
  async startTaskAttempt(taskId: string): Promise<void> {
    await this.prisma.$executeRaw`UPDATE export_job_tasks SET status = 'IN_PROGRESS', attempts = attempts + 1, start_timestamp = coalesce(start_timestamp, now()), end_timestamp = NULL WHERE id = ${taskId}::uuid`;
  }

  /** Retries the S3 client made within an attempt (see ExportTaskUploader). */
  async addTaskRetries(taskId: string, retries: number): Promise<void> {
    if (retries <= 0) return;
    await this.prisma.$executeRaw`UPDATE export_job_tasks SET attempts = attempts + ${retries} WHERE id = ${taskId}::uuid`;
  }

  async completeTask(taskId: string, eventCount: number): Promise<void> {
    await this.prisma.exportJobTask.update({ where: { id: taskId }, data: { status: 'SUCCEEDED', eventCount, failureReason: null, endTimestamp: new Date() } });
  }

  async failTask(taskId: string, reason: string): Promise<void> {
    await this.prisma.exportJobTask.update({ where: { id: taskId }, data: { status: 'FAILED', failureReason: reason, endTimestamp: new Date() } });
  }

  /**
   * The job failed; the cursor stays, so the next run resumes it. `connectionStatus` is set when
   * the bucket or the credentials are to blame, and the health check is asked to re-test soon.
   */
  async failJob(jobId: string, reason: string, connectionStatus?: string): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      const job = await tx.exportJob.update({ where: { id: jobId }, data: { status: 'FAILED', failureReason: reason, endTimestamp: new Date() }, select: { configurationId: true } });
      if (connectionStatus !== undefined) {
        await tx.exportConfiguration.update({ where: { id: job.configurationId }, data: { connectionStatus, nextHealthCheckAt: new Date() } });
      }
    });
  }

  /**
   * Marks the job succeeded and moves the cursor to its last event, in one transaction: either
   * both happen or neither, so an event is never skipped and never exported by two jobs. The
   * `cursor = fromSequence` guard makes a second completion of the same job a no-op error instead
   * of a silent double move. A delivery that worked also proves the connection: SUCCESS.
   */
  async completeJob(job: PlannedJob, eventCount: number): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      const moved = await tx.exportConfiguration.updateMany({
        where: { id: job.configurationId, cursor: job.fromSequence },
        data: { cursor: job.toSequence, connectionStatus: 'SUCCESS', nextHealthCheckAt: null, healthCheckFailures: 0 },
      });
      if (moved.count !== 1) throw new Error(`Export job ${job.id}: the cursor of configuration ${job.configurationId} is no longer ${job.fromSequence}`);
      await tx.exportJob.update({ where: { id: job.id }, data: { status: 'SUCCEEDED', eventCount, failureReason: null, endTimestamp: new Date() } });
    });
  }

  /**
   * The bodies of the events in (fromSequence, toSequence], in sequence order, as JSON text, one
   * array row at a time, fetched through a server-side cursor in batches so memory stays bounded
   * whatever the task size. Call `release()` once the stream has ended or failed.
   */
  async streamEventBodies(fromSequence: bigint, toSequence: bigint, batchSize = 2000): Promise<{ rows: Readable; release: (error?: Error) => void }> {
    const client: PoolClient = await this.pool.connect();
    const rows = client.query(
      new DisconnectSafeQueryStream('SELECT body::text FROM audit_events WHERE sequence > $1 AND sequence <= $2 ORDER BY sequence', [fromSequence.toString(), toSequence.toString()], {
        batchSize,
        rowMode: 'array',
      }),
    );
    // The client stays checked out until the task's upload is done, after its last row too: its
    // session ending meanwhile (57P01 on a restart, failover or pg_terminate_backend) would be an
    // unhandled 'error' event, which ends the process. And the stream alone would wait forever for
    // the dead server (see DisconnectSafeQueryStream): this fails it, and so the task.
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost ??= error;
      rows.connectionLost(error);
    };
    client.on('error', onError);
    let released = false;
    return {
      rows,
      release: (error?: Error) => {
        if (released) return;
        released = true;
        // A dead connection is not handed back to the pool; from release() on the pool listens.
        client.release(error ?? lost);
        client.off('error', onError);
      },
    };
  }
}
