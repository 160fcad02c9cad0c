-- Server-side encryption of delivered objects, per configuration (issue #10, item 3).
-- Both columns are null for every existing row: no SSE header is sent, exactly as before.
CREATE TYPE "server_side_encryption" AS ENUM ('AES256', 'aws:kms');
ALTER TABLE "export_configurations" ADD COLUMN "server_side_encryption" "server_side_encryption";
ALTER TABLE "export_configurations" ADD COLUMN "kms_key_arn" TEXT;
-- A key means SSE-KMS; the API refuses anything else, the database says so too.
ALTER TABLE "export_configurations" ADD CONSTRAINT "export_configurations_kms_key_needs_aws_kms"
  CHECK ("kms_key_arn" IS NULL OR "server_side_encryption" = 'aws:kms');
