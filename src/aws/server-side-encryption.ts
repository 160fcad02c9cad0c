import type { ServerSideEncryption as S3ServerSideEncryption } from '@aws-sdk/client-s3';
import type { ServerSideEncryption } from '../generated/prisma/enums';

/** A configuration's server-side encryption, in its stored form (a Prisma row fits). */
export interface EncryptionSettings {
  /** Null: no header is sent, and the bucket's default encryption applies (the behaviour before issue #10). */
  serverSideEncryption: ServerSideEncryption | null;
  /** The customer's KMS key or alias ARN; only with AWS_KMS. Null with AWS_KMS: the AWS managed key aws/s3. */
  kmsKeyArn: string | null;
}

/** The parameters PutObject and CreateMultipartUpload take for SSE-S3 / SSE-KMS. */
export interface ObjectEncryption {
  ServerSideEncryption?: S3ServerSideEncryption;
  SSEKMSKeyId?: string;
}

/** The API's enum names → the values of `x-amz-server-side-encryption`. */
const HEADER_VALUE: Record<ServerSideEncryption, S3ServerSideEncryption> = {
  AES256: 'AES256',
  AWS_KMS: 'aws:kms',
};

/**
 * The SSE parameters of every object write the service makes for a configuration: the connection
 * test's `.immuta.export.log` and the exports' PutObject / CreateMultipartUpload (UploadPart and
 * CompleteMultipartUpload take none: S3 applies the upload's settings). Nothing at all when the
 * configuration has no SSE setting, so such a configuration sends exactly the requests it sent
 * before. One function for both writers, so the test proves what the exports will do.
 */
export function objectEncryption(settings: EncryptionSettings): ObjectEncryption {
  if (settings.serverSideEncryption === null) return {};
  const encryption: ObjectEncryption = { ServerSideEncryption: HEADER_VALUE[settings.serverSideEncryption] };
  if (settings.serverSideEncryption === 'AWS_KMS' && settings.kmsKeyArn) encryption.SSEKMSKeyId = settings.kmsKeyArn;
  return encryption;
}

/** The stored enum from the database's own label ('AES256' / 'aws:kms'), for raw SQL rows. */
export function serverSideEncryptionFromLabel(label: string | null): ServerSideEncryption | null {
  if (label === null) return null;
  const entry = (Object.entries(HEADER_VALUE) as Array<[ServerSideEncryption, string]>).find(([, value]) => value === label);
  if (!entry) throw new Error(`Unknown server_side_encryption value in the database: ${label}`);
  return entry[0];
}
