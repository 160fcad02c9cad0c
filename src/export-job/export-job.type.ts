import { DateTimeResolver } from 'graphql-scalars';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

/**
 * The API's view of export jobs and their tasks, built only by export-job.mapper.ts from stored
 * rows. Sequence numbers (the cursor) are internal and stay out of the API.
 */

export enum ExportStatus {
  PENDING = 'PENDING',
  IN_PROGRESS = 'IN_PROGRESS',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  SUPERSEDED = 'SUPERSEDED',
}

registerEnumType(ExportStatus, {
  name: 'ExportStatus',
  description: 'Where an export job or task stands.',
  valuesConfig: {
    PENDING: { description: 'Planned, not started yet.' },
    IN_PROGRESS: { description: 'Being delivered (or interrupted by a crash; the next run resumes it).' },
    SUCCEEDED: { description: 'Delivered.' },
    FAILED: { description: 'Gave up for now; failureReason says why and nextRetryAt when it is tried again, from the same events.' },
    SUPERSEDED: {
      description:
        'Closed without completing, and never resumed: its destination (bucket or path) changed, or its starting point is no longer the cursor. failureReason says which; the events it did not deliver are delivered by the next job.',
    },
  },
});

export enum ExportTrigger {
  SCHEDULED = 'SCHEDULED',
  MANUAL = 'MANUAL',
}

registerEnumType(ExportTrigger, {
  name: 'ExportTrigger',
  description: 'What started an export job.',
  valuesConfig: {
    SCHEDULED: { description: "The configuration's schedule (its interval)." },
    MANUAL: { description: 'runExportConfiguration.' },
  },
});

@ObjectType('ExportJob', { description: 'One export run of a configuration: the events ingested since the previous job, up to the newest one when it started.' })
export class ExportJob {
  @Field(() => ID, { description: 'Unique identifier of the job.' })
  id!: string;

  @Field(() => String, { description: 'Id of the export configuration the job delivers for.' })
  exportConfigurationId!: string;

  @Field(() => ExportStatus, { description: 'Where the job stands.' })
  status!: ExportStatus;

  @Field(() => ExportTrigger, { description: 'What started the job.' })
  trigger!: ExportTrigger;

  @Field(() => Int, { description: 'Number of events the job delivers.' })
  eventCount!: number;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When the job started.' })
  startTimestamp!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When the job succeeded or failed; null while it runs.' })
  endTimestamp!: Date | null;

  @Field(() => String, { nullable: true, description: 'Why the job failed or was superseded; null unless FAILED or SUPERSEDED.' })
  failureReason!: string | null;

  @Field(() => Int, { description: 'Runs that worked on the job: 1 when the run that planned it delivered it, plus one for every retry or resume.' })
  attempts!: number;

  @Field(() => Int, { description: 'How often the job failed. Kept once it succeeds, so the history shows a job that needed retries.' })
  failureCount!: number;

  @Field(() => String, { nullable: true, description: 'Why the job failed last; kept once it succeeds. Null for a job that never failed.' })
  lastFailureReason!: string | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When the job failed last; kept once it succeeds.' })
  lastFailedAt!: Date | null;

  @Field(() => DateTimeResolver, {
    nullable: true,
    description: "When a FAILED job is tried again (backoff from one minute, doubling, capped at the configuration's interval); also sooner once a connection re-test succeeds.",
  })
  nextRetryAt!: Date | null;

  @Field(() => DateTimeResolver, { description: 'When the job was planned.' })
  createdAt!: Date;

  @Field(() => DateTimeResolver, {
    nullable: true,
    description: "When the service received the job's first event (its oldest): endTimestamp minus this is the job's delivery lag. Null for a job without events.",
  })
  oldestEventReceivedAt!: Date | null;
}

@ObjectType('ExportJobTask', { description: 'A bounded slice of an export job, delivered as one gzip NDJSON object.' })
export class ExportJobTask {
  @Field(() => ID, { description: 'Unique identifier of the task.' })
  id!: string;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When the task was first tried.' })
  startTimestamp!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When the task last succeeded or failed.' })
  endTimestamp!: Date | null;

  @Field(() => Int, {
    description:
      'Number of tries: 1 for a task delivered at once, plus every retry (a request the S3 client sent again after a transient error, or the task tried again after a failure or a crash).',
  })
  attempts!: number;

  @Field(() => Int, { description: "Position of the task's first event within its job (0-based)." })
  offset!: number;

  @Field(() => Int, { description: 'Number of events in the task.' })
  limit!: number;

  @Field(() => ExportStatus, { description: 'Where the task stands.' })
  status!: ExportStatus;

  @Field(() => String, { nullable: true, description: 'Why the last try failed; null once the task succeeded.' })
  failureReason!: string | null;

  @Field(() => String, { description: 'Key of the object in the bucket; the same on every retry, so a retry overwrites instead of duplicating.' })
  objectKey!: string;
}
