import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { DeliveryFormat, ExportPartitioning, ObjectNaming } from '../generated/prisma/enums';

/**
 * GraphQL shapes of the delivery settings (issue #9; docs/delivery-formats.md): the enums, the
 * event filter as returned and as given. Rules live in export-config.validation.ts.
 */

registerEnumType(DeliveryFormat, {
  name: 'DeliveryFormat',
  description: 'How each delivered object is encoded (docs/delivery-formats.md).',
  valuesConfig: {
    NDJSON_GZIP: { description: 'Gzip-compressed NDJSON: one event per line (the default; <name>.ndjson.gz).' },
    JSON_ARRAY_GZIP: { description: 'Gzip-compressed JSON array of the events (<name>.json.gz), as Wiv delivers.' },
    CLOUDTRAIL_JSON_GZIP: { description: 'Gzip-compressed {"Records":[...]} (<name>.json.gz), as CloudTrail delivers.' },
    OCSF_PARQUET: { description: 'OCSF 1.7.0 records in Parquet with Snappy (<name>.parquet); docs/ocsf-mapping.md.' },
  },
});

registerEnumType(ExportPartitioning, {
  name: 'ExportPartitioning',
  description: 'Which folder under the path each object goes to; an object never holds events of two partitions.',
  valuesConfig: {
    DELIVERY_DATE: { description: '<path>/yyyy/mm/dd/ by the export job’s start, UTC (the default).' },
    EVENT_HOUR_HIVE: { description: '<path>/dt=YYYY-MM-DD/hour=HH/ by each event’s eventTimestamp, UTC (Hive partitions for Athena and Glue).' },
    SECURITY_LAKE: {
      description: '<path>/region=<region>/accountId=<account>/eventDay=YYYYMMDD/ by each event’s eventTimestamp, UTC (an Amazon Security Lake custom source layout).',
    },
  },
});

registerEnumType(ObjectNaming, {
  name: 'ObjectNaming',
  description: 'How each delivered object is named; every name carries a time and an id unique to the configuration, job and task.',
  valuesConfig: {
    JOB_OFFSET: { description: '<jobId>-<offset>.<ext>, the offset zero-padded to 10 digits (the default).' },
    TIMESTAMP_UUID: { description: 'YYYY-MM-DD-HH-MM-SS-<uuid>.<ext> (Keycard’s naming): the job’s start, UTC, and a UUID derived from the configuration, job and offset.' },
  },
});

const FILTER_VALUES_DESCRIPTION = 'Exact values; an empty or absent list says nothing.';

@ObjectType('EventFilterCriteria', { description: 'Lists of exact values of event fields.' })
export class EventFilterCriteriaType {
  @Field(() => [String], { nullable: true, description: `Values of the event's action (e.g. QUERY). ${FILTER_VALUES_DESCRIPTION}` })
  actions!: string[] | null;

  @Field(() => [String], { nullable: true, description: `Values of the event's actionStatus (e.g. SUCCESS). ${FILTER_VALUES_DESCRIPTION}` })
  actionStatuses!: string[] | null;

  @Field(() => [String], { nullable: true, description: `Values of the event's targetType (e.g. DATASOURCE). ${FILTER_VALUES_DESCRIPTION}` })
  targetTypes!: string[] | null;

  @Field(() => [String], { nullable: true, description: `Values of the event's auditPayload.type. ${FILTER_VALUES_DESCRIPTION}` })
  auditPayloadTypes!: string[] | null;
}

@ObjectType('EventFilter', {
  description:
    'Which events go to the destination: those matching every non-empty include list and none of the exclude lists. Events filtered out still move the cursor past them.',
})
export class EventFilterType {
  @Field(() => EventFilterCriteriaType, { nullable: true, description: 'An event is delivered only if its field is in every non-empty list here.' })
  include!: EventFilterCriteriaType | null;

  @Field(() => EventFilterCriteriaType, { nullable: true, description: 'An event is not delivered if its field is in any non-empty list here.' })
  exclude!: EventFilterCriteriaType | null;
}

@InputType('EventFilterCriteriaInput', { description: 'Lists of exact values of event fields (at most 100 values each).' })
export class EventFilterCriteriaInput {
  @Field(() => [String], { nullable: true, description: `Values of the event's action (e.g. QUERY). ${FILTER_VALUES_DESCRIPTION}` })
  actions?: string[] | null;

  @Field(() => [String], { nullable: true, description: `Values of the event's actionStatus (e.g. SUCCESS). ${FILTER_VALUES_DESCRIPTION}` })
  actionStatuses?: string[] | null;

  @Field(() => [String], { nullable: true, description: `Values of the event's targetType (e.g. DATASOURCE). ${FILTER_VALUES_DESCRIPTION}` })
  targetTypes?: string[] | null;

  @Field(() => [String], { nullable: true, description: `Values of the event's auditPayload.type. ${FILTER_VALUES_DESCRIPTION}` })
  auditPayloadTypes?: string[] | null;
}

@InputType('EventFilterInput', { description: 'Which events go to the destination: those matching every non-empty include list and none of the exclude lists.' })
export class EventFilterInput {
  @Field(() => EventFilterCriteriaInput, { nullable: true, description: 'An event is delivered only if its field is in every non-empty list here.' })
  include?: EventFilterCriteriaInput | null;

  @Field(() => EventFilterCriteriaInput, { nullable: true, description: 'An event is not delivered if its field is in any non-empty list here.' })
  exclude?: EventFilterCriteriaInput | null;
}

export const FORMAT_DESCRIPTION = 'How each object is encoded (docs/delivery-formats.md). Default NDJSON_GZIP. A change applies from the next job planned.';
export const PARTITIONING_DESCRIPTION = 'Which folder under the path each object goes to. Default DELIVERY_DATE. A change applies from the next job planned.';
export const OBJECT_NAMING_DESCRIPTION = 'How each object is named. Default JOB_OFFSET. A change applies from the next job planned.';
export const EVENT_FILTER_DESCRIPTION = 'Which events go to this destination; null delivers every event. A change applies from the next job planned.';
export const SECURITY_LAKE_ACCOUNT_ID_DESCRIPTION =
  "The 12-digit AWS account id of SECURITY_LAKE partitions (accountId=<id>); required with SECURITY_LAKE for access-key configurations, default the role ARN's account for assumed-role ones.";
export const START_FROM_DESCRIPTION =
  'Where the export starts, in ingestion order: BEGINNING (default: every event stored), NOW (only events received from now on), or an ISO 8601 timestamp such as 2026-11-20T00:00:00Z (the events received at or after it). Create only.';
