-- Delivery status and alerts of export configurations (issue #12).

-- Bookkeeping written by export runs in the transaction that fails or completes a job (never
-- touching updated_at or version: see docs/delivery-guarantees.md, "The optimistic lock").
-- Failed runs in a row; 0 after a successful delivery.
ALTER TABLE "export_configurations" ADD COLUMN "consecutive_failures" INTEGER NOT NULL DEFAULT 0;
-- The last run failure; null after recovery.
ALTER TABLE "export_configurations" ADD COLUMN "last_error" TEXT;
-- When the current streak of failures began (the auto-disable clock); null while healthy.
ALTER TABLE "export_configurations" ADD COLUMN "failing_since" TIMESTAMPTZ(3);
-- When the "about to be disabled" warning was queued for the current streak.
ALTER TABLE "export_configurations" ADD COLUMN "disable_warned_at" TIMESTAMPTZ(3);
-- Why the service disabled the configuration itself; cleared when a person enables it again.
ALTER TABLE "export_configurations" ADD COLUMN "disabled_reason" TEXT;

-- Where a configuration's alerts go. The secret is a SecretBox envelope, never returned.
CREATE TYPE "notification_target_type" AS ENUM ('WEBHOOK', 'SLACK');
CREATE TABLE "notification_targets" (
  "id" UUID NOT NULL,
  "configuration_id" UUID NOT NULL,
  "position" INTEGER NOT NULL,
  "type" "notification_target_type" NOT NULL,
  "url" TEXT NOT NULL,
  "secret_ciphertext" TEXT,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "notification_targets_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "notification_targets_configuration_id_fkey" FOREIGN KEY ("configuration_id") REFERENCES "export_configurations"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "notification_targets_configuration_id_position_key" ON "notification_targets"("configuration_id", "position");

-- One notification to one target, retried with backoff by the notification loop.
CREATE TYPE "notification_delivery_status" AS ENUM ('PENDING', 'SUCCEEDED', 'FAILED');
CREATE TABLE "notification_deliveries" (
  "id" UUID NOT NULL,
  "configuration_id" UUID NOT NULL,
  "target_id" UUID NOT NULL,
  "event" TEXT NOT NULL,
  -- The webhook body's fields, fixed when the event happened.
  "payload" JSONB NOT NULL,
  "status" "notification_delivery_status" NOT NULL DEFAULT 'PENDING',
  "attempts" INTEGER NOT NULL DEFAULT 0,
  "last_error" TEXT,
  "response_status" INTEGER,
  "next_attempt_at" TIMESTAMPTZ(3),
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "delivered_at" TIMESTAMPTZ(3),
  "last_attempt_at" TIMESTAMPTZ(3),
  CONSTRAINT "notification_deliveries_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "notification_deliveries_configuration_id_fkey" FOREIGN KEY ("configuration_id") REFERENCES "export_configurations"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "notification_deliveries_target_id_fkey" FOREIGN KEY ("target_id") REFERENCES "notification_targets"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "notification_deliveries_configuration_id_created_at_idx" ON "notification_deliveries"("configuration_id", "created_at");
-- The loop's claim: due PENDING rows only.
CREATE INDEX "notification_deliveries_due_idx" ON "notification_deliveries"("next_attempt_at") WHERE "status" = 'PENDING';
