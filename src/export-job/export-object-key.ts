import { createHash } from 'node:crypto';
import type { ExportPartitioning, ObjectNaming } from '../generated/prisma/enums';

/**
 * Where a task's object goes: `<path>/<partition>/<name>` (docs/delivery-formats.md).
 *
 * The key is fixed when the job is planned and stored with the task: every retry of the task
 * writes the same object, which is what makes a retry overwrite instead of duplicate. So nothing
 * here may depend on when or how often it is called: only on the job (its id and start) and the
 * task (its offset and partition).
 *
 * Partitions:
 * - DELIVERY_DATE: `yyyy/mm/dd` of the job's start (UTC), like CloudTrail's date layout (the only
 *   layout before issue #9: with JOB_OFFSET naming and NDJSON the keys are exactly those of before);
 * - EVENT_HOUR_HIVE: `dt=YYYY-MM-DD/hour=HH` of the task's partition (its events' eventTimestamp, UTC);
 * - SECURITY_LAKE: `region=<region>/accountId=<account>/eventDay=YYYYMMDD` of the task's partition.
 *
 * Names carry a time and an id that is unique to the configuration, job and task:
 * - JOB_OFFSET: `<jobId>-<offset, 10 digits>.<ext>` (zero-padded so that a listing in key order is
 *   in job order);
 * - TIMESTAMP_UUID: `YYYY-MM-DD-HH-MM-SS-<uuid>.<ext>` (Keycard's naming), the job's start (UTC) and
 *   {@link objectUuid}: derived, not random, so that the key can be recomputed and proves which
 *   configuration wrote it. Every object also carries `x-amz-meta-export-configuration-id`.
 */
export interface ObjectKeyLayout {
  configurationId: string;
  path: string | null;
  partitioning: ExportPartitioning;
  objectNaming: ObjectNaming;
  /** The format's extension, without the dot: `ndjson.gz`. */
  extension: string;
  /** SECURITY_LAKE's `region=` (the bucket's region). */
  region: string;
  /** SECURITY_LAKE's `accountId=`; required with SECURITY_LAKE. */
  accountId: string | null;
}

export function exportObjectKey(layout: ObjectKeyLayout, job: { id: string; startedAt: Date }, task: { offset: number; partitionStart: Date | null }): string {
  const name =
    layout.objectNaming === 'TIMESTAMP_UUID'
      ? `${timestampName(job.startedAt)}-${objectUuid(layout.configurationId, job.id, task.offset)}.${layout.extension}`
      : `${job.id}-${task.offset.toString().padStart(10, '0')}.${layout.extension}`;
  return [layout.path, partitionFolder(layout, job.startedAt, task.partitionStart), name].filter((part) => part).join('/');
}

/** The partition's folder (see {@link exportObjectKey}). */
export function partitionFolder(layout: Pick<ObjectKeyLayout, 'partitioning' | 'region' | 'accountId'>, jobStartedAt: Date, partitionStart: Date | null): string {
  if (layout.partitioning === 'DELIVERY_DATE') {
    const started = utcParts(jobStartedAt);
    return `${started.yyyy}/${started.mm}/${started.dd}`;
  }
  if (!partitionStart) throw new Error(`A ${layout.partitioning} task needs its partition`);
  const { yyyy, mm, dd, hh } = utcParts(partitionStart);
  switch (layout.partitioning) {
    case 'EVENT_HOUR_HIVE':
      return `dt=${yyyy}-${mm}-${dd}/hour=${hh}`;
    case 'SECURITY_LAKE':
      if (!layout.accountId) throw new Error('SECURITY_LAKE partitions need an account id');
      return `region=${layout.region}/accountId=${layout.accountId}/eventDay=${yyyy}${mm}${dd}`;
  }
}

/**
 * The event-time span of one partition of `partitioning`, in milliseconds; null when its
 * partitions are not by event time. Planning groups events by `date_trunc(<unit>, eventTimestamp, 'UTC')`.
 */
export const PARTITION_UNIT: Record<ExportPartitioning, { sqlUnit: 'hour' | 'day'; spanMs: number } | null> = {
  DELIVERY_DATE: null,
  EVENT_HOUR_HIVE: { sqlUnit: 'hour', spanMs: 3_600_000 },
  SECURITY_LAKE: { sqlUnit: 'day', spanMs: 86_400_000 },
};

/**
 * A UUID (RFC 9562 version 8: custom) from SHA-256 of the configuration id, job id and offset:
 * unique per object (job ids are random UUIDs), the same on every call (so a retry's key is the
 * planned one), and checkable: whoever knows the three can recompute it and tell which
 * configuration wrote the object.
 */
export function objectUuid(configurationId: string, jobId: string, offset: number): string {
  const bytes = createHash('sha256').update(`${configurationId}/${jobId}/${offset}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The account of an IAM role ARN (arn:aws:iam::<account>:role/...). */
export function roleArnAccount(roleArn: string | null): string | null {
  return roleArn ? (/^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1] ?? null) : null;
}

function timestampName(at: Date): string {
  const { yyyy, mm, dd, hh } = utcParts(at);
  const minutes = at.getUTCMinutes().toString().padStart(2, '0');
  const seconds = at.getUTCSeconds().toString().padStart(2, '0');
  return `${yyyy}-${mm}-${dd}-${hh}-${minutes}-${seconds}`;
}

function utcParts(at: Date) {
  return {
    yyyy: at.getUTCFullYear().toString().padStart(4, '0'),
    mm: (at.getUTCMonth() + 1).toString().padStart(2, '0'),
    dd: at.getUTCDate().toString().padStart(2, '0'),
    hh: at.getUTCHours().toString().padStart(2, '0'),
  };
}
