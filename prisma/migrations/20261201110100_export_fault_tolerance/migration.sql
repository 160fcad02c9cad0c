-- Fault tolerance of export runs (see docs/delivery-guarantees.md).

-- The optimistic-lock version of a configuration: bumped only by changes a person makes, never by
-- export runs or health checks (which used to move updated_at and made admins' updates CONFLICT).
ALTER TABLE "export_configurations" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 0;
-- A run asked for (runExportConfiguration) that has not started yet. PostgreSQL, not Redis, keeps
-- the request, so it survives a lost queue job and is honoured right after a run in progress.
ALTER TABLE "export_configurations" ADD COLUMN "run_requested_at" TIMESTAMPTZ(3);

-- The destination a job was planned for: its object keys were fixed under this bucket and path.
ALTER TABLE "export_jobs" ADD COLUMN "bucket" TEXT;
ALTER TABLE "export_jobs" ADD COLUMN "path" TEXT;
UPDATE "export_jobs" AS j SET "bucket" = c."bucket", "path" = c."path" FROM "export_configurations" AS c WHERE c."id" = j."configuration_id";
ALTER TABLE "export_jobs" ALTER COLUMN "bucket" SET NOT NULL;

-- Job history that keeps its failures once the job succeeds.
ALTER TABLE "export_jobs" ADD COLUMN "attempts" INTEGER NOT NULL DEFAULT 1;
ALTER TABLE "export_jobs" ADD COLUMN "failure_count" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "export_jobs" ADD COLUMN "last_failure_reason" TEXT;
ALTER TABLE "export_jobs" ADD COLUMN "last_failed_at" TIMESTAMPTZ(3);
-- When a FAILED job is tried again (backoff); the worker's reconcile loop enqueues overdue ones.
ALTER TABLE "export_jobs" ADD COLUMN "next_retry_at" TIMESTAMPTZ(3);
UPDATE "export_jobs" SET "failure_count" = 1, "last_failure_reason" = "failure_reason", "last_failed_at" = "end_timestamp" WHERE "status" = 'FAILED';

-- At most one unfinished job per configuration, enforced by the database: two runs that were not
-- kept apart (e.g. advisory locks behind a transaction-pooling proxy) can no longer plan two jobs on
-- one cursor. Older unfinished duplicates, which could never complete, are closed first.
UPDATE "export_jobs" AS j
   SET "status" = 'SUPERSEDED', "failure_reason" = 'Superseded: another unfinished job of this configuration was planned on the same cursor', "end_timestamp" = now()
 WHERE j."status" IN ('PENDING', 'IN_PROGRESS', 'FAILED')
   AND EXISTS (SELECT 1 FROM "export_jobs" AS older
                WHERE older."configuration_id" = j."configuration_id"
                  AND older."status" IN ('PENDING', 'IN_PROGRESS', 'FAILED')
                  AND (older."created_at", older."id") < (j."created_at", j."id"));
CREATE UNIQUE INDEX "export_jobs_one_unfinished_per_configuration" ON "export_jobs" ("configuration_id") WHERE "status" IN ('PENDING', 'IN_PROGRESS', 'FAILED');
CREATE INDEX "export_jobs_next_retry_at_idx" ON "export_jobs" ("next_retry_at") WHERE "status" = 'FAILED';
