import { DateTimeResolver } from 'graphql-scalars';
import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { ExportInterval } from '../generated/prisma/enums';

/**
 * Descriptions of the delivery-status fields, shared by ExportConfiguration (field resolvers in
 * export-status.resolver.ts) and ExportConfigurationStatus, so both read the same.
 */
export const STATUS_FIELD_DESCRIPTIONS = {
  lastDeliveredAt: 'When the last successful export job ended; null when nothing was delivered yet.',
  lastDeliveredSequence: 'Ingestion sequence of the last event delivered (the export cursor), as a string since it is a 64-bit integer; null when nothing was delivered yet.',
  deliveryLagSeconds: 'Age in seconds of the oldest event not yet delivered (now minus its receivedTimestamp); 0 when every event is delivered.',
  lastError: 'The last export failure, or the failing connection test; null once an export succeeds again (and the connection test passes).',
  consecutiveFailures: 'Export runs that failed in a row; 0 after a successful delivery.',
  nextRunAt:
    "When the next export is expected: the failed job's retry time if any, else the last scheduled run's start plus the interval; null when unknown or disabled. Computed from PostgreSQL only.",
  disabledReason: 'Why the service disabled the configuration itself (persistent failure); null otherwise, and cleared when it is enabled again.',
} as const;

/** Delivery status of one configuration, computed by ExportStatusService. */
export class DeliveryStatus {
  lastDeliveredAt!: Date | null;
  lastDeliveredSequence!: string | null;
  deliveryLagSeconds!: number;
  lastError!: string | null;
  consecutiveFailures!: number;
  nextRunAt!: Date | null;
  disabledReason!: string | null;
}

@ObjectType('ExportConfigurationStatus', { description: 'The delivery status of an export configuration, for dashboards: cheap to query for all of them.' })
export class ExportConfigurationStatus {
  @Field(() => ID, { description: 'Id of the export configuration.' })
  id!: string;

  @Field(() => Boolean, { description: 'Whether scheduled exports run.' })
  enabled!: boolean;

  @Field(() => String, { description: '"SUCCESS" when the last connection test or delivery worked, otherwise the reason it failed.' })
  connectionStatus!: string;

  @Field(() => ExportInterval, { description: 'How often audit events are exported.' })
  interval!: ExportInterval;

  @Field(() => String, { description: 'Name of the S3 bucket the audit logs are written to.' })
  bucket!: string;

  @Field(() => String, { nullable: true, description: 'Folder inside the bucket; null for the bucket root.' })
  path!: string | null;

  @Field(() => DateTimeResolver, { nullable: true, description: STATUS_FIELD_DESCRIPTIONS.lastDeliveredAt })
  lastDeliveredAt!: Date | null;

  @Field(() => String, { nullable: true, description: STATUS_FIELD_DESCRIPTIONS.lastDeliveredSequence })
  lastDeliveredSequence!: string | null;

  @Field(() => Float, { nullable: true, description: STATUS_FIELD_DESCRIPTIONS.deliveryLagSeconds })
  deliveryLagSeconds!: number | null;

  @Field(() => String, { nullable: true, description: STATUS_FIELD_DESCRIPTIONS.lastError })
  lastError!: string | null;

  @Field(() => Int, { description: STATUS_FIELD_DESCRIPTIONS.consecutiveFailures })
  consecutiveFailures!: number;

  @Field(() => DateTimeResolver, { nullable: true, description: STATUS_FIELD_DESCRIPTIONS.nextRunAt })
  nextRunAt!: Date | null;

  @Field(() => String, { nullable: true, description: STATUS_FIELD_DESCRIPTIONS.disabledReason })
  disabledReason!: string | null;
}
