import type { PrismaClient } from '../database/prisma';

/** Where a digest is and the SHA-256 of its exact bytes: one link of a chain. */
export interface DigestLocation {
  bucket: string;
  key: string;
  sha256: string;
}

/**
 * The newest digest of each configuration (`export_digest_chains`), which the next job's digest
 * names as its previous one (read by ExportJobRepository.planJob, in the planning transaction).
 * The only code that writes the table.
 */
export class ExportDigestChainRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Makes a digest just written its configuration's newest. Only while its job is being delivered:
   * a job closed meanwhile (superseded by a run that was not kept apart from this one) must not
   * move the chain under the job planned after it. Writing the same digest again is harmless.
   * False when nothing was written.
   */
  async advance(configurationId: string, jobId: string, digest: DigestLocation): Promise<boolean> {
    const count = await this.prisma.$executeRaw`
      INSERT INTO export_digest_chains (configuration_id, job_id, bucket, key, sha256, updated_at)
      SELECT ${configurationId}::uuid, ${jobId}::uuid, ${digest.bucket}, ${digest.key}, ${digest.sha256}, now()
       WHERE EXISTS (SELECT 1 FROM export_jobs WHERE id = ${jobId}::uuid AND status = 'IN_PROGRESS')
      ON CONFLICT (configuration_id) DO UPDATE
         SET job_id = EXCLUDED.job_id, bucket = EXCLUDED.bucket, key = EXCLUDED.key, sha256 = EXCLUDED.sha256, updated_at = now()`;
    return count === 1;
  }

  /** The configuration's newest digest, or null before its first. */
  find(configurationId: string): Promise<(DigestLocation & { jobId: string }) | null> {
    return this.prisma.exportDigestChain.findUnique({ where: { configurationId }, select: { jobId: true, bucket: true, key: true, sha256: true } });
  }
}
