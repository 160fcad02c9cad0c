import { serverSideEncryptionFromLabel } from '../aws/server-side-encryption';
import type { ConnectionTarget } from '../connection-test/connection-test.service';
import type { PrismaClient } from '../database/prisma';

/** A configuration claimed for a background re-test, in its stored form (what the connection test takes). */
export interface HealthCheckCandidate extends ConnectionTarget {
  /** Failures before this attempt. */
  healthCheckFailures: number;
  /** The row version the test ran against; a result for an older version is dropped. */
  version: number;
}

export interface HealthCheckOutcome {
  ok: boolean;
  status: string;
  testedAt: Date;
  /** Set when the test failed: when to try again. */
  nextHealthCheckAt: Date | null;
}

interface CandidateRow {
  id: string;
  endpoint_type: 'S3_ACCESS_KEY' | 'S3_ASSUMED_ROLE';
  bucket: string;
  path: string | null;
  region: string;
  access_key_id: string | null;
  secret_ciphertext: string | null;
  role_arn: string | null;
  /** The database's enum label: 'AES256' or 'aws:kms'. */
  server_side_encryption: string | null;
  kms_key_arn: string | null;
  health_check_failures: number;
  version: number;
}

/**
 * The health check's SQL. Several processes (API replicas, workers) run the loop at once, so rows
 * are claimed, not just read: `FOR UPDATE SKIP LOCKED` lets each process take different due rows
 * without waiting on the others, and the claim pushes `next_health_check_at` forward by a lease in
 * the same statement, so once the claiming transaction commits nobody else sees the row as due
 * until the lease ends. The test itself (network calls, seconds) runs outside any transaction;
 * a process that dies mid-test leaves the row to be claimed again when its lease ends.
 *
 * Neither `updated_at` nor `version` is touched here: they belong to changes a person makes, and
 * `version` is what {@link recordOutcome} checks.
 */
export class HealthCheckRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Claims up to `limit` enabled configurations whose status is not SUCCESS and whose next check is
   * due (null counts as due: a configuration that just failed its first test, e.g. on create).
   */
  async claimDue(now: Date, limit: number, leaseMs: number): Promise<HealthCheckCandidate[]> {
    const rows = await this.prisma.$queryRawUnsafe<CandidateRow[]>(
      `WITH due AS (
         SELECT id FROM export_configurations
          WHERE enabled
            AND connection_status <> 'SUCCESS'
            AND (next_health_check_at IS NULL OR next_health_check_at <= $1::timestamptz)
          ORDER BY next_health_check_at ASC NULLS FIRST, id
          LIMIT $2
          FOR UPDATE SKIP LOCKED
       )
       UPDATE export_configurations AS c
          SET next_health_check_at = $1::timestamptz + make_interval(secs => $3::double precision / 1000)
         FROM due
        WHERE c.id = due.id
       RETURNING c.id, c.endpoint_type, c.bucket, c.path, c.region, c.access_key_id, c.secret_ciphertext,
                 c.role_arn, c.server_side_encryption::text AS server_side_encryption, c.kms_key_arn, c.health_check_failures, c.version`,
      now.toISOString(),
      limit,
      leaseMs,
    );
    return rows.map((row) => ({
      id: row.id,
      endpointType: row.endpoint_type,
      bucket: row.bucket,
      path: row.path,
      region: row.region,
      accessKeyId: row.access_key_id,
      secretCiphertext: row.secret_ciphertext,
      roleArn: row.role_arn,
      serverSideEncryption: serverSideEncryptionFromLabel(row.server_side_encryption),
      kmsKeyArn: row.kms_key_arn,
      healthCheckFailures: row.health_check_failures,
      version: row.version,
    }));
  }

  /**
   * Stores a re-test's result, unless the configuration changed (or was disabled or deleted) while
   * it ran: then the result describes settings that no longer exist, and whoever changed them has
   * tested the new ones. Returns whether the result was stored.
   */
  async recordOutcome(candidate: Pick<HealthCheckCandidate, 'id' | 'version'>, outcome: HealthCheckOutcome): Promise<boolean> {
    const count = await this.prisma.$executeRawUnsafe(
      `UPDATE export_configurations
          SET connection_status = $3,
              last_tested_at = $4::timestamptz,
              health_check_failures = CASE WHEN $5::boolean THEN 0 ELSE health_check_failures + 1 END,
              next_health_check_at = $6::timestamptz
        WHERE id = $1::uuid AND version = $2::integer AND enabled`,
      candidate.id,
      candidate.version,
      outcome.status,
      outcome.testedAt.toISOString(),
      outcome.ok,
      outcome.nextHealthCheckAt?.toISOString() ?? null,
    );
    return count === 1;
  }
}
