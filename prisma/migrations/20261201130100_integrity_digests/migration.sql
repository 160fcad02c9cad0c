-- Signed digest chains of delivered objects, CloudTrail-style (issue #10, item 4; the argument is
-- docs/integrity-digests.md).

-- Per configuration. Existing configurations get false, so they deliver exactly what they did
-- before; a configuration created from now on gets true unless its creator says otherwise.
ALTER TABLE "export_configurations" ADD COLUMN "integrity_validation" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "export_configurations" ALTER COLUMN "integrity_validation" SET DEFAULT true;

-- Ed25519 keys that sign digests. The private key is a SecretBox envelope (SECRET_ENCRYPTION_KEY),
-- bound to its fingerprint; the public key and its fingerprint are public. One current key
-- (retired_at null); retired keys are kept: older digests verify with them, and a digest first
-- written with a key before a rotation is rewritten with that same key by a retry.
CREATE TABLE "digest_signing_keys" (
    "id" UUID NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "public_key_pem" TEXT NOT NULL,
    "private_key_ciphertext" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retired_at" TIMESTAMPTZ(3),

    CONSTRAINT "digest_signing_keys_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "digest_signing_keys_fingerprint_key" ON "digest_signing_keys"("fingerprint");
CREATE UNIQUE INDEX "digest_signing_keys_one_current" ON "digest_signing_keys" ((true)) WHERE "retired_at" IS NULL;

-- The newest digest written for each configuration: the next job's previous digest.
CREATE TABLE "export_digest_chains" (
    "configuration_id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "bucket" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "sha256" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "export_digest_chains_pkey" PRIMARY KEY ("configuration_id")
);
ALTER TABLE "export_digest_chains" ADD CONSTRAINT "export_digest_chains_configuration_id_fkey" FOREIGN KEY ("configuration_id") REFERENCES "export_configurations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- What a job's digest is made of, fixed at planning: whether it has one, the digest it follows,
-- and the ingestion times of its first and last event. Jobs planned before this migration have none.
ALTER TABLE "export_jobs" ADD COLUMN "integrity_validation" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "export_jobs" ADD COLUMN "previous_digest_bucket" TEXT;
ALTER TABLE "export_jobs" ADD COLUMN "previous_digest_key" TEXT;
ALTER TABLE "export_jobs" ADD COLUMN "previous_digest_sha256" TEXT;
ALTER TABLE "export_jobs" ADD COLUMN "first_event_received_at" TIMESTAMPTZ(3);
ALTER TABLE "export_jobs" ADD COLUMN "last_event_received_at" TIMESTAMPTZ(3);
-- Fixed when the digest is first written, so that every retry signs with the same key.
ALTER TABLE "export_jobs" ADD COLUMN "digest_signing_key_id" UUID;
ALTER TABLE "export_jobs" ADD CONSTRAINT "export_jobs_digest_signing_key_id_fkey" FOREIGN KEY ("digest_signing_key_id") REFERENCES "digest_signing_keys"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
-- The digest as written (recorded after each write).
ALTER TABLE "export_jobs" ADD COLUMN "digest_key" TEXT;
ALTER TABLE "export_jobs" ADD COLUMN "digest_sha256" TEXT;

-- The facts of each delivered object: SHA-256 (hex) and size of the exact bytes uploaded.
ALTER TABLE "export_job_tasks" ADD COLUMN "sha256" TEXT;
ALTER TABLE "export_job_tasks" ADD COLUMN "byte_size" BIGINT;
