-- CreateEnum
CREATE TYPE "api_key_permission" AS ENUM ('AUDIT', 'INGEST');

-- CreateEnum
CREATE TYPE "export_interval" AS ENUM ('EVERY_2_HOURS', 'EVERY_4_HOURS', 'EVERY_6_HOURS', 'EVERY_12_HOURS', 'EVERY_24_HOURS');

-- CreateEnum
CREATE TYPE "endpoint_type" AS ENUM ('S3_ACCESS_KEY', 'S3_ASSUMED_ROLE');

-- CreateEnum
CREATE TYPE "export_status" AS ENUM ('PENDING', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED');

-- CreateEnum
CREATE TYPE "export_trigger" AS ENUM ('SCHEDULED', 'MANUAL');

-- CreateTable
CREATE TABLE "users" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL,
    "permissions" "api_key_permission"[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "export_configurations" (
    "id" UUID NOT NULL,
    "interval" "export_interval" NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "connection_status" TEXT NOT NULL,
    "endpoint_type" "endpoint_type" NOT NULL,
    "bucket" TEXT NOT NULL,
    "path" TEXT,
    "region" TEXT NOT NULL,
    "access_key_id" TEXT,
    "secret_ciphertext" TEXT,
    "role_arn" TEXT,
    "cursor" BIGINT NOT NULL DEFAULT 0,
    "last_tested_at" TIMESTAMPTZ(3),
    "next_health_check_at" TIMESTAMPTZ(3),
    "health_check_failures" INTEGER NOT NULL DEFAULT 0,
    "created_by_id" UUID,
    "updated_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "export_configurations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "sequence" BIGSERIAL NOT NULL,
    "id" UUID NOT NULL,
    "action" TEXT NOT NULL,
    "event_timestamp" TIMESTAMPTZ(3) NOT NULL,
    "received_timestamp" TIMESTAMPTZ(3) NOT NULL,
    "body" JSONB NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("sequence")
);

-- CreateTable
CREATE TABLE "export_jobs" (
    "id" UUID NOT NULL,
    "configuration_id" UUID NOT NULL,
    "trigger" "export_trigger" NOT NULL,
    "status" "export_status" NOT NULL DEFAULT 'PENDING',
    "from_sequence" BIGINT NOT NULL,
    "to_sequence" BIGINT NOT NULL,
    "event_count" INTEGER NOT NULL DEFAULT 0,
    "start_timestamp" TIMESTAMPTZ(3),
    "end_timestamp" TIMESTAMPTZ(3),
    "failure_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "export_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "export_job_tasks" (
    "id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "offset" INTEGER NOT NULL,
    "limit" INTEGER NOT NULL,
    "from_sequence" BIGINT NOT NULL,
    "to_sequence" BIGINT NOT NULL,
    "object_key" TEXT NOT NULL,
    "status" "export_status" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "event_count" INTEGER NOT NULL DEFAULT 0,
    "start_timestamp" TIMESTAMPTZ(3),
    "end_timestamp" TIMESTAMPTZ(3),
    "failure_reason" TEXT,

    CONSTRAINT "export_job_tasks_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_name_key" ON "users"("name");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys"("key_hash");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_id_key" ON "audit_events"("id");

-- CreateIndex
CREATE INDEX "export_jobs_configuration_id_created_at_idx" ON "export_jobs"("configuration_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "export_job_tasks_job_id_offset_key" ON "export_job_tasks"("job_id", "offset");

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "export_configurations" ADD CONSTRAINT "export_configurations_created_by_id_fkey" FOREIGN KEY ("created_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "export_configurations" ADD CONSTRAINT "export_configurations_updated_by_id_fkey" FOREIGN KEY ("updated_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "export_jobs" ADD CONSTRAINT "export_jobs_configuration_id_fkey" FOREIGN KEY ("configuration_id") REFERENCES "export_configurations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "export_job_tasks" ADD CONSTRAINT "export_job_tasks_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "export_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
