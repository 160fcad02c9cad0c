import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AwsClientFactory, CredentialSource } from '../aws/aws-client.factory';
import { objectEncryption, type EncryptionSettings } from '../aws/server-side-encryption';
import type { Logger } from '../common/logger';

/** The object the connection test writes; the seed tells admins to look for it in their bucket. */
export const CONNECTION_TEST_OBJECT_NAME = '.immuta.export.log';
export const CONNECTION_STATUS_SUCCESS = 'SUCCESS';
/** connectionStatus is shown to people; a runaway AWS message must not bloat every response. */
const MAX_REASON_LENGTH = 1000;

/** What the test needs to know about a configuration, in its stored form (a Prisma row fits). */
export interface ConnectionTarget extends CredentialSource, EncryptionSettings {
  bucket: string;
  /** Normalised path (no leading/trailing '/'), null for the bucket root. */
  path: string | null;
  region: string;
}

export interface ConnectionTestResult {
  ok: boolean;
  /** `SUCCESS`, or `Error testing access to S3 using <AccessKey id|AssumedRole arn> - <reason>`. */
  status: string;
  testedAt: Date;
}

/** Why a connection test ran: the mutation that asked for it, or the background health check. */
export type ConnectionTestTrigger = 'create' | 'update' | 'enable' | 'test' | 'health_check';

/** Told the result of every connection test (src/metrics implements it). Must not throw. */
export interface ConnectionTestMetrics {
  connectionTested(trigger: ConnectionTestTrigger, ok: boolean): void;
}

/** `<path>/.immuta.export.log`, or `.immuta.export.log` at the bucket root. */
export function connectionTestObjectKey(path: string | null): string {
  return path ? `${path}/${CONNECTION_TEST_OBJECT_NAME}` : CONNECTION_TEST_OBJECT_NAME;
}

/**
 * Proves that the service can write into a configuration's bucket the way exports will: with the
 * configuration's own credentials (or its assumed role), by `PutObject` only, which is the one
 * permission the seed's policies grant, and with the configuration's server-side encryption: with
 * SSE-KMS, S3 calls kms:GenerateDataKey as the writer, so a key the role may not use fails here
 * with AWS's own message (naming KMS) rather than at the first export. The whole test (AssumeRole included) is bounded by
 * `timeoutMs`, so a hung endpoint cannot hang the mutation that triggered it.
 */
export class ConnectionTestService {
  constructor(
    private readonly aws: AwsClientFactory,
    private readonly options: { timeoutMs: number; serviceVersion: string },
    private readonly logger: Logger,
    private readonly metrics?: ConnectionTestMetrics,
  ) {}

  async test(target: ConnectionTarget, trigger: ConnectionTestTrigger): Promise<ConnectionTestResult> {
    const testedAt = new Date();
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.options.timeoutMs);
    let s3: S3Client | undefined;
    try {
      const credentials = await this.aws.credentialsFor(target, { abortSignal: deadline.signal });
      s3 = this.aws.createS3Client(target.region, credentials);
      await s3.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: connectionTestObjectKey(target.path),
          Body: JSON.stringify({ configurationId: target.id, testedAt: testedAt.toISOString(), serviceVersion: this.options.serviceVersion }),
          ContentType: 'application/json',
          ...objectEncryption(target),
        }),
        { abortSignal: deadline.signal },
      );
      this.logger.info({ configurationId: target.id, bucket: target.bucket }, 'connection test succeeded');
      this.metrics?.connectionTested(trigger, true);
      return { ok: true, status: CONNECTION_STATUS_SUCCESS, testedAt };
    } catch (error) {
      const reason = deadline.signal.aborted ? `Connection test timed out after ${this.options.timeoutMs} ms` : awsErrorReason(error);
      const status = connectionFailureStatus(target, reason);
      this.logger.info({ configurationId: target.id, bucket: target.bucket, status }, 'connection test failed');
      this.metrics?.connectionTested(trigger, false);
      return { ok: false, status, testedAt };
    } finally {
      clearTimeout(timer);
      s3?.destroy();
    }
  }
}

/** `AccessKey <accessKeyId>` or `AssumedRole <roleArn>`, as in the seed's status text. */
function describeAuthentication(target: CredentialSource): string {
  return target.endpointType === 'S3_ACCESS_KEY' ? `AccessKey ${target.accessKeyId}` : `AssumedRole ${target.roleArn}`;
}

/**
 * connectionStatus after a failed access to the bucket, in the seed's form, whoever found it: the
 * connection test or an export run.
 */
export function connectionFailureStatus(target: CredentialSource, reason: string): string {
  return `Error testing access to S3 using ${describeAuthentication(target)} - ${reason}`;
}

/** A failure text on one line (control characters become spaces) and at most MAX_REASON_LENGTH characters. */
export function boundedReason(text: string): string {
  // eslint-disable-next-line no-control-regex
  const reason = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH)}…` : reason;
}

/**
 * The AWS error's own message (e.g. `User: <arn> is not authorized to perform: sts:AssumeRole on
 * resource: <arn>`), on one line and bounded. Falls back to the error code when a response had no
 * body to take a message from.
 */
function awsErrorReason(error: unknown): string {
  const candidate = error as { message?: unknown; name?: unknown; Code?: unknown };
  let reason = typeof candidate?.message === 'string' && candidate.message.trim() ? candidate.message : '';
  if (!reason || reason === 'UnknownError') {
    reason = ([candidate?.Code, candidate?.name, reason].find((part) => typeof part === 'string' && part) as string | undefined) ?? 'Unknown error';
  }
  return boundedReason(reason);
}
