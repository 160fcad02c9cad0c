import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectEncryption } from '../aws/server-side-encryption';
import type { Logger } from '../common/logger';
import type { DigestSigningKeyService } from '../digest-signing-key/digest-signing-key.service';
import { DIGEST_FORMAT, digestObjectKey, serializeDigest, sha256Of, signDigest, SIGNATURE_ALGORITHM, type DigestDocument } from '../export-digest/export-digest.format';
import type { ExportDigestChainRepository } from './export-digest-chain.repository';
import type { ExportJobRepository, PlannedJob } from './export-job.repository';

/** A job's digest object, ready to put. */
export interface BuiltDigest {
  bucket: string;
  key: string;
  body: Buffer;
  sha256: string;
  signingKeyFingerprint: string;
}

/**
 * Writes the signed digest of a job whose objects are all delivered, before the job completes
 * (ExportRunService.executeJob). Everything in it comes from what was fixed when the job was
 * planned (key, sequence range, times, previous digest), from the facts of the delivered objects
 * as recorded by their tasks, and from the signing key fixed the first time the digest is built:
 * so every retry of the job writes the same bytes to the same key (docs/integrity-digests.md has
 * the argument, the exact format, and what happens when a job is superseded).
 */
export class ExportDigestWriter {
  constructor(
    private readonly jobs: Pick<ExportJobRepository, 'fixDigestSigningKey' | 'digestTasks' | 'recordDigest' | 'recordedDigestSha256'>,
    private readonly chains: Pick<ExportDigestChainRepository, 'advance'>,
    private readonly signingKeys: Pick<DigestSigningKeyService, 'currentKeyId' | 'signer'>,
    private readonly logger: Logger,
  ) {}

  /** Builds, puts and records the job's digest; then it is the configuration's newest. */
  async write(s3: S3Client, job: PlannedJob, encryption: ObjectEncryption): Promise<BuiltDigest> {
    const built = await this.build(job);
    await s3.send(new PutObjectCommand({ ...encryption, Bucket: built.bucket, Key: built.key, Body: built.body, ContentType: 'application/json' }));
    const recorded = await this.jobs.recordedDigestSha256(job.id);
    if (recorded !== null && recorded !== built.sha256) {
      // Not expected (the content is a function of fixed data); the new bytes replaced the old ones
      // under the same key and become the chain's link, so the chain stays consistent.
      this.logger.warn({ jobId: job.id, key: built.key, recorded, written: built.sha256 }, 'a retried digest differs from the one written before');
    }
    await this.jobs.recordDigest(job.id, { key: built.key, sha256: built.sha256 });
    if (!(await this.chains.advance(job.configurationId, job.id, { bucket: built.bucket, key: built.key, sha256: built.sha256 }))) {
      this.logger.warn({ jobId: job.id, key: built.key }, 'digest written for a job that is no longer being delivered: the chain was left as it was');
    }
    return built;
  }

  /** The digest object of `job`: the same bytes every time for the same job. */
  async build(job: PlannedJob): Promise<BuiltDigest> {
    if (!job.digest || !job.startTimestamp) throw new Error(`Export job ${job.id} was planned without a digest`);
    // The first build fixes the key; a rotation after it does not change what a retry signs with.
    const signer = await this.signingKeys.signer(await this.jobs.fixDigestSigningKey(job.id, await this.signingKeys.currentKeyId()));
    const tasks = await this.jobs.digestTasks(job.id);
    const objects = tasks.map((task) => {
      if (task.status !== 'SUCCEEDED' || task.sha256 === null || task.byteSize === null) {
        throw new Error(`Export job ${job.id}: the object ${task.objectKey} is not delivered (or was delivered before digests existed); no digest can list it`);
      }
      return {
        key: task.objectKey,
        sha256: task.sha256,
        bytes: Number(task.byteSize),
        eventCount: task.eventCount,
        sequenceRange: { after: task.fromSequence.toString(), through: task.toSequence.toString() },
      };
    });
    const key = digestObjectKey(job.path, job.startTimestamp, job.id);
    const document: DigestDocument = {
      format: DIGEST_FORMAT,
      configurationId: job.configurationId,
      jobId: job.id,
      bucket: job.bucket,
      key,
      sequenceRange: { after: job.fromSequence.toString(), through: job.toSequence.toString() },
      eventCount: objects.reduce((sum, object) => sum + object.eventCount, 0),
      jobStartTime: job.startTimestamp.toISOString(),
      firstEventReceivedTime: job.digest.firstEventReceivedAt.toISOString(),
      lastEventReceivedTime: job.digest.lastEventReceivedAt.toISOString(),
      objects,
      previousDigest: job.digest.previous,
      signatureAlgorithm: SIGNATURE_ALGORITHM,
      signingKeyFingerprint: signer.fingerprint,
    };
    const body = serializeDigest(signDigest(document, signer.privateKey));
    return { bucket: job.bucket, key, body, sha256: sha256Of(body), signingKeyFingerprint: signer.fingerprint };
  }
}
