-- Per-configuration delivery settings (issue #9, docs/delivery-formats.md). Every default is the
-- behaviour before this migration: NDJSON gzip, dated by the job's start, <jobId>-<offset> names,
-- no filter. Existing rows and jobs keep delivering exactly as they did.
CREATE TYPE "delivery_format" AS ENUM ('NDJSON_GZIP', 'JSON_ARRAY_GZIP', 'CLOUDTRAIL_JSON_GZIP', 'OCSF_PARQUET');
CREATE TYPE "export_partitioning" AS ENUM ('DELIVERY_DATE', 'EVENT_HOUR_HIVE', 'SECURITY_LAKE');
CREATE TYPE "object_naming" AS ENUM ('JOB_OFFSET', 'TIMESTAMP_UUID');

ALTER TABLE "export_configurations" ADD COLUMN "format" "delivery_format" NOT NULL DEFAULT 'NDJSON_GZIP';
ALTER TABLE "export_configurations" ADD COLUMN "partitioning" "export_partitioning" NOT NULL DEFAULT 'DELIVERY_DATE';
ALTER TABLE "export_configurations" ADD COLUMN "object_naming" "object_naming" NOT NULL DEFAULT 'JOB_OFFSET';
-- {"include": {"actions": [...], ...}, "exclude": {...}}; null delivers every event.
ALTER TABLE "export_configurations" ADD COLUMN "event_filter" JSONB;
ALTER TABLE "export_configurations" ADD COLUMN "security_lake_account_id" TEXT;

-- Fixed at planning, like the object keys: a retry of a job writes the same bytes with the same
-- events whatever the configuration says by then.
ALTER TABLE "export_jobs" ADD COLUMN "format" "delivery_format" NOT NULL DEFAULT 'NDJSON_GZIP';
ALTER TABLE "export_jobs" ADD COLUMN "event_filter" JSONB;
-- The event-time range [start, end) of the task's partition; null for DELIVERY_DATE.
ALTER TABLE "export_job_tasks" ADD COLUMN "partition_start" TIMESTAMPTZ(3);
ALTER TABLE "export_job_tasks" ADD COLUMN "partition_end" TIMESTAMPTZ(3);

-- The event filter's fields, extracted at ingestion, so planning and streaming filter in SQL
-- without parsing bodies. Plain nullable columns (no index, no constraint). Rows stored before
-- this migration are filled from their bodies once, here.
ALTER TABLE "audit_events" ADD COLUMN "action_status" TEXT;
ALTER TABLE "audit_events" ADD COLUMN "target_type" TEXT;
ALTER TABLE "audit_events" ADD COLUMN "payload_type" TEXT;
UPDATE "audit_events"
   SET "action_status" = "body"->>'actionStatus', "target_type" = "body"->>'targetType', "payload_type" = "body"->'auditPayload'->>'type';
