import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Logger } from '../common/logger';
import type { ConnectionTarget } from '../connection-test/connection-test.service';
import { connectionErrorFields } from '../database/connection-error';
import { binaryCopyColumnBatches } from '../database/copy-binary-column';
import type { PrismaClient, PrismaTransaction } from '../database/prisma';
import type { DeliveryFormat, ExportInterval, ExportPartitioning, ExportStatus, ExportTrigger, ObjectNaming } from '../generated/prisma/enums';
import { Prisma } from '../generated/prisma/client';
import type { EventFilter } from '../delivery-format/event-filter';
import { eventFilterCondition, inlineEventFilterCondition, partitionStartExpression } from './export-event-selection';
import { PARTITION_UNIT } from './export-object-key';
import { recordDelivery, recordRunFailure } from '../export-config/export-config.repository';
import { enqueueNotifications } from '../notification/notification-delivery.repository';
import { AuditEventWatermarkRepository, DEFAULT_WATERMARK_WAIT_MS, FINAL_SEQUENCE_SQL } from '../audit-event/audit-event-watermark.repository';
import { ExportTaskClaimRepository } from './export-task-claim.repository';

/**
 * First key of the two-key advisory locks that keep export runs of one configuration apart
 * ('expo' in ASCII); the second key is `hashtext(configuration id)`. Two-key locks never collide
 * with one-key advisory locks (PostgreSQL keeps the key spaces apart); two
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
  /** Caps the retry backoff of a failed job. */
  interval: ExportInterval;
  /** Sequence of the last event delivered. */
  cursor: bigint;
  /** Delivery settings (docs/delivery-formats.md), fixed into each job at planning. */
  format: DeliveryFormat;
  partitioning: ExportPartitioning;
  objectNaming: ObjectNaming;
  eventFilter: EventFilter | null;
  securityLakeAccountId: string | null;
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
  /**
   * The event-time range [start, end) of the task's partition; null for DELIVERY_DATE. The task's
   * events are those of its job's filter in (fromSequence, toSequence] whose eventTimestamp is in
   * it: exactly `limit` of them, fixed at planning.
   */
  partitionStart: Date | null;
  partitionEnd: Date | null;
}

export interface PlannedJob {
  id: string;
  configurationId: string;
  status: ExportStatus;
  fromSequence: bigint;
  toSequence: bigint;
  /** The destination the task keys were fixed for. */
  bucket: string;
  path: string | null;
  startTimestamp: Date | null;
  /** Failures so far (the retry backoff grows with it). */
  failureCount: number;
  tasks: PlannedTask[];
  /** What the job's digest is made of, fixed at planning (docs/integrity-digests.md). */
  digest: PlannedDigest | null;
  /** The encoding of its objects and the filter that chose its events, fixed at planning. */
  format: DeliveryFormat;
  eventFilter: EventFilter | null;
}

/** A job's digest as planned: whether and after which digest it is written, and its time range. */
export interface PlannedDigest {
  /** The configuration's newest digest when the job was planned; null for the first of a chain. */
  previous: { bucket: string; key: string; sha256: string } | null;
  firstEventReceivedAt: Date;
  lastEventReceivedAt: Date;
}

/** Which events of a sequence range a task holds, besides the range: its partition and its job's filter. */
export interface EventSelection {
  partitionStart: Date | null;
  partitionEnd: Date | null;
  eventFilter: EventFilter | null;
}

/** A delivered object's facts, recorded when its task succeeds. */
export interface DeliveredObject {
  sha256: string;
  bytes: number;
}

/** What the digest lists of one task, in the order of the job's events. */
export interface DigestTask {
  objectKey: string;
  status: ExportStatus;
  fromSequence: bigint;
  toSequence: bigint;
  eventCount: number;
  sha256: string | null;
  byteSize: bigint | null;
}

export interface PlanRequest {
  configurationId: string;
  trigger: ExportTrigger;
  /** The configuration's destination now; stored on the job with the keys fixed under it. */
  bucket: string;
  path: string | null;
  maxEventsPerTask: number;
  startedAt: Date;
  /**
   * The object key of a task, fixed now so that every retry writes the same object.
   * `partitionStart`: the start of the task's event-time partition (null for DELIVERY_DATE).
   */
  objectKey: (job: { id: string; startedAt: Date }, offset: number, partitionStart: Date | null) => string;
  /** Which events, grouped how, encoded how (docs/delivery-formats.md); absent: every event, one partition, NDJSON. */
  delivery?: { format: DeliveryFormat; partitioning: ExportPartitioning; eventFilter: EventFilter | null };
}

const TASK_SELECT = {
  id: true,
  offset: true,
  limit: true,
  fromSequence: true,
  toSequence: true,
  objectKey: true,
  status: true,
  attempts: true,
  partitionStart: true,
  partitionEnd: true,
} as const;

const JOB_SELECT = {
  id: true,
  configurationId: true,
  status: true,
  fromSequence: true,
  toSequence: true,
  bucket: true,
  path: true,
  startTimestamp: true,
  failureCount: true,
  integrityValidation: true,
  previousDigestBucket: true,
  previousDigestKey: true,
  previousDigestSha256: true,
  firstEventReceivedAt: true,
  lastEventReceivedAt: true,
  format: true,
  eventFilter: true,
  tasks: { select: TASK_SELECT, orderBy: { offset: 'asc' as const } },
} as const;

type StoredJob = {
  [K in keyof Omit<PlannedJob, 'digest' | 'eventFilter'>]: PlannedJob[K];
} & {
  eventFilter: unknown;
  integrityValidation: boolean;
  previousDigestBucket: string | null;
  previousDigestKey: string | null;
  previousDigestSha256: string | null;
  firstEventReceivedAt: Date | null;
  lastEventReceivedAt: Date | null;
};

function toPlannedJob(stored: StoredJob): PlannedJob {
  const { integrityValidation, previousDigestBucket, previousDigestKey, previousDigestSha256, firstEventReceivedAt, lastEventReceivedAt, eventFilter, ...job } = stored;
  const previous =
    previousDigestBucket && previousDigestKey && previousDigestSha256 ? { bucket: previousDigestBucket, key: previousDigestKey, sha256: previousDigestSha256 } : null;
  const digest = integrityValidation && firstEventReceivedAt && lastEventReceivedAt ? { previous, firstEventReceivedAt, lastEventReceivedAt } : null;
  // Written only by planJob, from the configuration's validated filter.
  return { ...job, digest, eventFilter: (eventFilter ?? null) as EventFilter | null };
}

/** The statuses of a job that is not finished; the database allows one such job per configuration. */
const UNFINISHED: ExportStatus[] = ['PENDING', 'IN_PROGRESS', 'FAILED'];

/** What failJob records. */
export interface JobFailure {
  reason: string;
  /** Set when the bucket or the credentials are to blame (the connection test's wording). */
  connectionStatus?: string;
  /** How long after this failure the job is due again, from its failure count (this one included). */
  retryDelayMs: (failureCount: number) => number;
  /** EXPORT_AUTO_DISABLE_AFTER_MS: persistent failure this long disables the configuration. */
  autoDisableAfterMs?: number;
}

/**
 * Export jobs and tasks, the cursor, and the SQL that makes runs exclusive and streams events.
 * docs/delivery-guarantees.md explains why these writes deliver every event exactly once.
 */
export class ExportJobRepository {
  constructor(
    private readonly prisma: PrismaClient,
    /** node-postgres pool: the run lock needs one session for the whole run, and streaming needs a cursor. */
    private readonly pool: Pool,
    /** Where a lost run lock is reported. */
    private readonly logger?: Logger,
    /** How long a plan waits at most for the events ingested before it to become final (see planJob). */
    private readonly watermarkWaitMs: number = DEFAULT_WATERMARK_WAIT_MS,
  ) {
    this.watermark = new AuditEventWatermarkRepository(prisma);
  }

  private readonly watermark: AuditEventWatermarkRepository;

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
      this.logger?.warn(
        { err: connectionErrorFields(error), configurationId },
        'export run lock lost: its database session ended, so PostgreSQL freed the lock; the run stops and the next run resumes its job',
      );
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

  /** Claims of this job's tasks on the same pool (issue #11): the claims read and lock, this repository writes. */
  taskClaims(): ExportTaskClaimRepository {
    return new ExportTaskClaimRepository(this.pool, this.logger);
  }

  async findConfiguration(configurationId: string): Promise<RunConfiguration | null> {
    const row = await this.prisma.exportConfiguration.findUnique({
      where: { id: configurationId },
      select: {
        id: true,
        enabled: true,
        interval: true,
        cursor: true,
        endpointType: true,
        bucket: true,
        path: true,
        region: true,
        serverSideEncryption: true,
        kmsKeyArn: true,
        accessKeyId: true,
        secretCiphertext: true,
        roleArn: true,
        format: true,
        partitioning: true,
        objectNaming: true,
        eventFilter: true,
        securityLakeAccountId: true,
      },
    });
    // The filter is written only by the configuration's repository, validated and normalised.
    return row && { ...row, eventFilter: (row.eventFilter ?? null) as EventFilter | null };
  }

  /** A job by id, for a worker that helps with its tasks (issue #11). */
  async findJob(jobId: string): Promise<PlannedJob | null> {
    const stored = await this.prisma.exportJob.findUnique({ where: { id: jobId }, select: JOB_SELECT });
    return stored ? toPlannedJob(stored) : null;
  }

  /** Tasks of the job not delivered yet, wherever they run: the job's run waits for none to be left. */
  unfinishedTaskCount(jobId: string): Promise<number> {
    return this.prisma.exportJobTask.count({ where: { jobId, status: { notIn: ['SUCCEEDED', 'SUPERSEDED'] } } });
  }

  /**
   * The job a previous run left unfinished (a crash, or a failure), if any. There is at most one:
   * a run always finishes or resumes it before planning a new one, and the cursor only moves when
   * a job succeeds.
   */
  async findUnfinishedJob(configurationId: string): Promise<PlannedJob | null> {
    const stored = await this.prisma.exportJob.findFirst({
      where: { configurationId, status: { in: UNFINISHED } },
      orderBy: { createdAt: 'asc' },
      select: JOB_SELECT,
    });
    return stored ? toPlannedJob(stored) : null;
  }

  /**
   * Plans a job over the events after the cursor up to the watermark, split into tasks of at most
   * `maxEventsPerTask` events. Below the watermark every transaction that drew a sequence value has
   * finished (docs/delivery-guarantees.md, "Ingestion without a global lock"), so no event can
   * appear there later, and the task boundaries found here never change. A watermark tick is taken
   * first and waited for (up to `watermarkWaitMs`), so the plan covers what was ingested before it;
   * a writing transaction open longer than that only delays its events and later ones to a later
   * plan. Returns null when there is nothing new.
   *
   * Also null when the configuration already has an unfinished job: only a run that was not kept
   * apart from another one (the advisory lock is per session, so a transaction-pooling proxy can
   * defeat it) gets here, and a second job on the same cursor could never complete. The
   * configuration row is locked first (FOR UPDATE), so two planners take turns and the second sees
   * the first's job; the partial unique index `export_jobs_one_unfinished_per_configuration` is the
   * database's own guarantee behind it.
   *
   * With integrity validation on, what the job's digest will be made of is fixed here too, in the
   * same transaction (docs/integrity-digests.md): the digest it follows (the configuration's newest
   * digest, which only a digest of this job can replace now) and its first and last event's
   * ingestion time.
   */
  async planJob(request: PlanRequest): Promise<PlannedJob | null> {
    await this.watermark.advance(this.watermarkWaitMs);
    try {
      return await this.planJobExclusively(request);
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
  }

  private async planJobExclusively(request: PlanRequest): Promise<PlannedJob | null> {
    return this.prisma.$transaction(
      async (tx) => {
        const [configuration] = await tx.$queryRaw<Array<{ cursor: bigint; integrity_validation: boolean }>>`
          SELECT cursor, integrity_validation FROM export_configurations WHERE id = ${request.configurationId}::uuid FOR UPDATE`;
        if (!configuration) throw new Error(`Export configuration ${request.configurationId} was not found`);
        if ((await tx.exportJob.count({ where: { configurationId: request.configurationId, status: { in: UNFINISHED } } })) > 0) return null;
        const from = configuration.cursor;
        const delivery = request.delivery ?? { format: 'NDJSON_GZIP', partitioning: 'DELIVERY_DATE', eventFilter: null };
        // The plan's upper bound, read once: the watermark (the final sequence in this statement's
        // snapshot). Every transaction that drew a sequence up to it had finished by then, so the
        // later statements that plan the tasks see exactly the events of (from, newest], for good.
        const [{ newest }] = await tx.$queryRawUnsafe<Array<{ newest: bigint | null }>>(`SELECT ${FINAL_SEQUENCE_SQL} AS newest`);
        if (newest === null || newest <= from) return null;
        const id = randomUUID();
        const tasks = await this.planTasks(tx, request, delivery, { id, from, to: newest });
        const toSequence = newest;
        const eventCount = tasks.reduce((sum, task) => sum + task.limit, 0);
        const digest = configuration.integrity_validation ? await this.planDigest(tx, request.configurationId, from, toSequence) : null;
        await tx.exportJob.create({
          data: {
            id,
            configurationId: request.configurationId,
            trigger: request.trigger,
            status: 'IN_PROGRESS',
            fromSequence: from,
            toSequence,
            eventCount,
            format: delivery.format,
            eventFilter: delivery.eventFilter ? (delivery.eventFilter as Prisma.InputJsonObject) : Prisma.DbNull,
            bucket: request.bucket,
            path: request.path,
            startTimestamp: request.startedAt,
            integrityValidation: digest !== null,
            previousDigestBucket: digest?.previous?.bucket,
            previousDigestKey: digest?.previous?.key,
            previousDigestSha256: digest?.previous?.sha256,
            firstEventReceivedAt: digest?.firstEventReceivedAt,
            lastEventReceivedAt: digest?.lastEventReceivedAt,
            tasks: { createMany: { data: tasks.map(({ status: _status, attempts: _attempts, ...task }) => task) } },
          },
        });
        return {
          id,
          configurationId: request.configurationId,
          status: 'IN_PROGRESS' as const,
          fromSequence: from,
          toSequence,
          bucket: request.bucket,
          path: request.path,
          startTimestamp: request.startedAt,
          failureCount: 0,
          tasks,
          digest,
          format: delivery.format,
          eventFilter: delivery.eventFilter,
        };
      },
      { timeout: 120_000, maxWait: 30_000 },
    );
  }

  /**
   * The tasks of a job over (from, to] (docs/delivery-formats.md, "Planning"), inside planJob's
   * transaction. The events the filter keeps are grouped by partition (one group for
   * DELIVERY_DATE) and each group is cut, in sequence order, into chunks of at most
   * maxEventsPerTask: a chunk is a task, so an object never mixes partitions and holds exactly its
   * chunk's events. A task's range starts after the previous chunk of its partition (or at the
   * cursor), so streaming (sequence range + partition + filter) finds exactly its events again.
   *
   * Tasks are ordered by their first event, and their offsets count the job's delivered events
   * in that order. With no filter and DELIVERY_DATE this is the single-partition plan of before:
   * the same ranges, offsets and keys. Events the filter drops belong to no task; the job still
   * covers them, so completing it moves the cursor past them. A job whose every event is filtered
   * out has no task at all (and completes at once).
   */
  private async planTasks(
    tx: PrismaTransaction,
    request: PlanRequest,
    delivery: NonNullable<PlanRequest['delivery']>,
    job: { id: string; from: bigint; to: bigint },
  ): Promise<PlannedTask[]> {
    const filter = eventFilterCondition(delivery.eventFilter, 4);
    const partitionStart = partitionStartExpression(delivery.partitioning);
    const chunks = await tx.$queryRawUnsafe<Array<{ partition_start: Date | null; from_sequence: bigint; to_sequence: bigint; event_count: bigint }>>(
      `WITH selected AS (
         SELECT e.sequence, ${partitionStart} AS partition_start,
                row_number() OVER (PARTITION BY ${partitionStart} ORDER BY e.sequence) AS position
           FROM audit_events e
          WHERE e.sequence > $1 AND e.sequence <= $2${filter.sql}
       ), chunks AS (
         SELECT partition_start, (position - 1) / $3 AS chunk, min(sequence) AS first_sequence, max(sequence) AS last_sequence, count(*) AS event_count
           FROM selected
          GROUP BY partition_start, (position - 1) / $3
       )
       SELECT partition_start, event_count, last_sequence AS to_sequence,
              coalesce(lag(last_sequence) OVER (PARTITION BY partition_start ORDER BY chunk), $1) AS from_sequence
         FROM chunks
        ORDER BY first_sequence`,
      job.from,
      job.to,
      request.maxEventsPerTask,
      ...filter.parameters,
    );
    const spanMs = PARTITION_UNIT[delivery.partitioning]?.spanMs;
    let offset = 0;
    return chunks.map((chunk) => {
      const limit = Number(chunk.event_count);
      const task: PlannedTask = {
        id: randomUUID(),
        offset,
        limit,
        fromSequence: chunk.from_sequence,
        toSequence: chunk.to_sequence,
        objectKey: request.objectKey({ id: job.id, startedAt: request.startedAt }, offset, chunk.partition_start),
        status: 'PENDING',
        attempts: 0,
        partitionStart: chunk.partition_start,
        partitionEnd: chunk.partition_start && spanMs ? new Date(chunk.partition_start.getTime() + spanMs) : null,
      };
      offset += limit;
      return task;
    });
  }

  /** Inside planJob's transaction, with the configuration row locked. */
  private async planDigest(tx: PrismaTransaction, configurationId: string, from: bigint, to: bigint): Promise<PlannedDigest> {
    const previous = await tx.exportDigestChain.findUnique({ where: { configurationId }, select: { bucket: true, key: true, sha256: true } });
    const [times] = await tx.$queryRaw<Array<{ first: Date; last: Date }>>`
      SELECT (SELECT received_timestamp FROM audit_events WHERE sequence > ${from} ORDER BY sequence ASC LIMIT 1) AS first,
             (SELECT received_timestamp FROM audit_events WHERE sequence = ${to}) AS last`;
    return { previous, firstEventReceivedAt: times.first, lastEventReceivedAt: times.last };
  }

  /**
   * A resumed job is in progress again, one more run working on it. Its current failure is
   * cleared, but `failure_count`, `last_failure_reason` and `last_failed_at` stay: the history
   * keeps saying that this job failed before it succeeded.
   */
  async resumeJob(jobId: string): Promise<void> {
    await this.prisma
      .$executeRaw`UPDATE export_jobs SET status = 'IN_PROGRESS', attempts = attempts + 1, failure_reason = NULL, next_retry_at = NULL, end_timestamp = NULL, start_timestamp = coalesce(start_timestamp, now()) WHERE id = ${jobId}::uuid`;
  }

  /**
   * Closes a job that must never be resumed (its destination changed, or its cursor guard can no
   * longer hold), with the reason. Its unfinished tasks are closed too; delivered ones stay
   * SUCCEEDED, as what happened. The cursor is not touched: the next job starts where it stands.
   */
  async supersedeJob(jobId: string, reason: string): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      await tx.exportJobTask.updateMany({ where: { jobId, status: { not: 'SUCCEEDED' } }, data: { status: 'SUPERSEDED', endTimestamp: new Date() } });
      await tx.exportJob.update({ where: { id: jobId }, data: { status: 'SUPERSEDED', failureReason: reason, nextRetryAt: null, endTimestamp: new Date() } });
    });
  }

  /** One more try of a task (a retry when it had tries before, e.g. before a crash). */
  async startTaskAttempt(taskId: string): Promise<void> {
    await this.prisma
      .$executeRaw`UPDATE export_job_tasks SET status = 'IN_PROGRESS', attempts = attempts + 1, start_timestamp = coalesce(start_timestamp, now()), end_timestamp = NULL WHERE id = ${taskId}::uuid`;
  }

  /** Retries the S3 client made within an attempt (see ExportTaskUploader). */
  async addTaskRetries(taskId: string, retries: number): Promise<void> {
    if (retries <= 0) return;
    await this.prisma.$executeRaw`UPDATE export_job_tasks SET attempts = attempts + ${retries} WHERE id = ${taskId}::uuid`;
  }

  /**
   * The task's object is delivered: its size and SHA-256 are those of the last upload, which
   * overwrote every earlier one under the same key, so they describe what the bucket holds.
   */
  async completeTask(taskId: string, eventCount: number, object: DeliveredObject): Promise<void> {
    // A task of a job superseded meanwhile stays SUPERSEDED (issue #11: a helper in another
    // process may finish an upload after the job's run closed the job).
    await this.prisma.exportJobTask.updateMany({
      where: { id: taskId, status: { not: 'SUPERSEDED' } },
      data: { status: 'SUCCEEDED', eventCount, sha256: object.sha256, byteSize: BigInt(object.bytes), failureReason: null, endTimestamp: new Date() },
    });
  }

  /**
   * The key the job's digest is signed with: `candidateKeyId` the first time (the current key),
   * whatever was fixed before on every later call, so a retry after a key rotation signs with the
   * same key and writes the same bytes.
   */
  async fixDigestSigningKey(jobId: string, candidateKeyId: string): Promise<string> {
    const [row] = await this.prisma.$queryRaw<Array<{ key_id: string }>>`
      UPDATE export_jobs SET digest_signing_key_id = coalesce(digest_signing_key_id, ${candidateKeyId}::uuid) WHERE id = ${jobId}::uuid
      RETURNING digest_signing_key_id::text AS key_id`;
    if (!row) throw new Error(`Export job ${jobId} was not found`);
    return row.key_id;
  }

  /** The tasks of a job as its digest lists them, in event order. */
  digestTasks(jobId: string): Promise<DigestTask[]> {
    return this.prisma.exportJobTask.findMany({
      where: { jobId },
      orderBy: { offset: 'asc' },
      select: { objectKey: true, status: true, fromSequence: true, toSequence: true, eventCount: true, sha256: true, byteSize: true },
    });
  }

  /** The digest as written, for the job's history; the SHA-256 a retry's digest is compared with. */
  async recordDigest(jobId: string, digest: { key: string; sha256: string }): Promise<void> {
    await this.prisma.exportJob.update({ where: { id: jobId }, data: { digestKey: digest.key, digestSha256: digest.sha256 } });
  }

  async recordedDigestSha256(jobId: string): Promise<string | null> {
    return (await this.prisma.exportJob.findUniqueOrThrow({ where: { id: jobId }, select: { digestSha256: true } })).digestSha256;
  }

  async failTask(taskId: string, reason: string): Promise<void> {
    await this.prisma.exportJobTask.update({ where: { id: taskId }, data: { status: 'FAILED', failureReason: reason, endTimestamp: new Date() } });
  }

  /**
   * The job failed; the cursor stays, so a later run resumes it. The failure is counted and kept
   * (last reason and time) and the job is due again `retryDelayMs(failureCount)` after it.
   * `connectionStatus` is set when the bucket or the credentials are to blame, and the health check
   * is asked to re-test soon. Returns the failure count and the retry time.
   */
  async failJob(jobId: string, failure: JobFailure): Promise<{ failureCount: number; nextRetryAt: Date; disabled: boolean }> {
    return this.prisma.$transaction(async (tx) => {
      const now = new Date();
      const { failureCount } = await tx.exportJob.findUniqueOrThrow({ where: { id: jobId }, select: { failureCount: true } });
      const nextRetryAt = new Date(now.getTime() + failure.retryDelayMs(failureCount + 1));
      const job = await tx.exportJob.update({
        where: { id: jobId },
        data: {
          status: 'FAILED',
          failureReason: failure.reason,
          lastFailureReason: failure.reason,
          lastFailedAt: now,
          failureCount: { increment: 1 },
          nextRetryAt,
          endTimestamp: now,
        },
        select: { configurationId: true, failureCount: true },
      });
      // The configuration's failure bookkeeping (and connectionStatus) and the alert it calls
      // for commit with the job's failure (issue #12; docs/alerts.md).
      const state = await recordRunFailure(tx, {
        configurationId: job.configurationId,
        reason: failure.reason,
        connectionStatus: failure.connectionStatus,
        autoDisableAfterMs: failure.autoDisableAfterMs,
        now,
      });
      await enqueueNotifications(tx, state, now);
      return { failureCount: job.failureCount, nextRetryAt, disabled: state.disabled };
    });
  }

  /**
   * Marks the job succeeded and moves the cursor to its last event, in one transaction: either
   * both happen or neither, so an event is never skipped and never exported by two jobs. The
   * `cursor = fromSequence` guard makes a second completion of the same job impossible instead of
   * a silent double move. A delivery that worked also proves the connection: SUCCESS.
   *
   * Returns false when the guard fails (the cursor is no longer where the job started): such a job
   * can never complete, so the caller closes it as superseded rather than let it block every later
   * run. Nothing is written then.
   */
  async completeJob(job: PlannedJob, eventCount: number): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      // Moves the cursor and resets the failure bookkeeping (the configuration's repository owns those columns).
      const state = await recordDelivery(tx, job);
      if (!state) return false;
      const now = new Date();
      await tx.exportJob.update({ where: { id: job.id }, data: { status: 'SUCCEEDED', eventCount, failureReason: null, nextRetryAt: null, endTimestamp: now } });
      await enqueueNotifications(tx, state, now);
      return true;
    });
  }

  /**
   * When a run was last asked for and has not started yet (null: none pending). A run reads it
   * right after taking the configuration's lock: whatever it then delivers covers that request.
   */
  async pendingRunRequest(configurationId: string): Promise<Date | null> {
    const row = await this.prisma.exportConfiguration.findUnique({ where: { id: configurationId }, select: { runRequestedAt: true } });
    return row?.runRequestedAt ?? null;
  }

  /**
   * Marks the requests made up to `seen` as honoured. A request made after `seen` (during the run)
   * stays, so the run goes round once more for it.
   */
  async clearRunRequest(configurationId: string, seen: Date): Promise<void> {
    await this.prisma.$executeRaw`UPDATE export_configurations SET run_requested_at = NULL WHERE id = ${configurationId}::uuid AND run_requested_at <= ${seen}`;
  }

  /**
   * The bodies of a task's events, in sequence order, as the UTF-8 bytes of their JSON text
   * (verbatim: body is json, kept as ingested), in batches, through a binary COPY whose output is
   * read no faster than it is consumed, so memory stays bounded whatever the task size
   * (src/database/copy-binary-column.ts says why COPY). The task's events: those in
   * (fromSequence, toSequence] that the job's filter keeps and, for event-time partitions, whose
   * eventTimestamp is in the task's partition; the same conditions as planning, so exactly the
   * planned events. Call `release()` once the stream has ended or failed.
   */
  async streamEventBodies(
    fromSequence: bigint,
    toSequence: bigint,
    selection: EventSelection = { partitionStart: null, partitionEnd: null, eventFilter: null },
  ): Promise<{ batches: AsyncIterable<Buffer[]>; stop: (error: Error) => void; release: (error?: Error) => Promise<void> }> {
    const { partitionStart, partitionEnd, eventFilter } = selection;
    const client: PoolClient = await this.pool.connect();
    // COPY takes no bind parameters: the bounds are a bigint's digits and Date.toISOString()'s
    // output, and the filter's values go through the driver's literal escaping.
    const sql =
      `COPY (SELECT body FROM audit_events e WHERE e.sequence > ${BigInt(fromSequence)} AND e.sequence <= ${BigInt(toSequence)}` +
      (partitionStart !== null && partitionEnd !== null
        ? ` AND e.event_timestamp >= '${partitionStart.toISOString()}'::timestamptz AND e.event_timestamp < '${partitionEnd.toISOString()}'::timestamptz`
        : '') +
      `${inlineEventFilterCondition(eventFilter, (value) => client.escapeLiteral(value))} ORDER BY e.sequence) TO STDOUT (FORMAT binary)`;
    const copyOutput = client.query(copyTo(sql));
    // The client stays checked out until the task's upload is done, after its last row too: its
    // session ending meanwhile (57P01 on a restart, failover or pg_terminate_backend) would be an
    // unhandled 'error' event, which ends the process. The COPY stream fails with it, and so the task.
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost ??= error;
      copyOutput.destroy(error);
    };
    client.on('error', onError);
    let released = false;
    return {
      batches: binaryCopyColumnBatches(copyOutput),
      stop: (error: Error) => copyOutput.destroy(error),
      release: async (error?: Error) => {
        if (released) return;
        released = true;
        // The COPY's output ends before the server's ReadyForQuery: a connection handed back before
        // it would make its next user queue behind the COPY (which pg 9 refuses). A dead one, or one
        // left in the middle of a COPY, is not handed back at all.
        if (!error && !lost) await untilIdle(client);
        client.release(error ?? lost);
        client.off('error', onError);
      },
    };
  }
}

/**
 * Resolves once the client has finished its query (pg's 'drain', after the server's ReadyForQuery),
 * or its connection has ended or failed: either way nothing of that query is left in flight.
 */
function untilIdle(client: PoolClient): Promise<void> {
  if ((client as PoolClient & { readyForQuery?: boolean }).readyForQuery) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      client.off('drain', done);
      client.off('end', done);
      client.off('error', done);
      resolve();
    };
    client.on('drain', done);
    client.on('end', done);
    client.on('error', done);
  });
}

/**
 * Closes, in the caller's transaction, a configuration's unfinished jobs that start below
 * `sequence`: retention dropped some of their events, so they could never be delivered whole
 * (their tasks' event counts are fixed). The cursor stays; the next job starts at the first event
 * still stored after it. Returns how many jobs were closed.
 */
export async function supersedeJobsBefore(tx: PrismaTransaction, configurationId: string, sequence: bigint, reason: string): Promise<number> {
  const now = new Date();
  const jobs = await tx.exportJob.findMany({ where: { configurationId, status: { in: UNFINISHED }, fromSequence: { lt: sequence } }, select: { id: true } });
  if (jobs.length === 0) return 0;
  const ids = jobs.map((job) => job.id);
  await tx.exportJobTask.updateMany({ where: { jobId: { in: ids }, status: { not: 'SUCCEEDED' } }, data: { status: 'SUPERSEDED', endTimestamp: now } });
  await tx.exportJob.updateMany({ where: { id: { in: ids } }, data: { status: 'SUPERSEDED', failureReason: reason, nextRetryAt: null, endTimestamp: now } });
  return ids.length;
}

/** A unique violation (PostgreSQL 23505, or Prisma's P2002 for it). */
function isUniqueViolation(error: unknown): boolean {
  const candidate = error as { code?: string; cause?: { code?: string }; meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } } | undefined;
  return candidate?.code === 'P2002' || candidate?.code === '23505' || candidate?.cause?.code === '23505' || candidate?.meta?.driverAdapterError?.cause?.originalCode === '23505';
}
