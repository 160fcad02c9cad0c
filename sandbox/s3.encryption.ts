import { createHash, randomBytes } from 'node:crypto';
import type { ConditionContext } from './policy.condition';
import type { BucketEncryption, ObjectEncryption, SseAlgorithm } from './object.store';
import { header } from './request.authenticator';
import type { S3Call, S3Services } from './s3.handler';
import { awsErrors } from './sandbox.errors';

/**
 * Server-side encryption as S3 decides it for a write
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html): the request's
 * `x-amz-server-side-encryption*` headers, else the bucket's default encryption, else SSE-S3
 * (AES256), which S3 applies to every object since January 2023. SSE-KMS writes need
 * kms:GenerateDataKey on the key; reading such an object, or adding parts to a multipart upload
 * encrypted with it, needs kms:Decrypt. Bytes are stored as they came: only the decisions and the
 * permission checks are emulated.
 */

const ALGORITHMS: readonly SseAlgorithm[] = ['AES256', 'aws:kms', 'aws:kms:dsse'];

export const isKms = (algorithm: SseAlgorithm) => algorithm !== 'AES256';

/** The SSE headers of a PutObject/CreateMultipartUpload, checked as S3 checks them. */
function requested(call: S3Call): { algorithm?: SseAlgorithm; keyId?: string; bucketKey?: boolean } {
  if (header(call.headers, 'x-amz-server-side-encryption-customer-algorithm') !== undefined) throw awsErrors.notImplemented('SSE-C (customer-provided keys)');
  const algorithm = header(call.headers, 'x-amz-server-side-encryption');
  const keyId = header(call.headers, 'x-amz-server-side-encryption-aws-kms-key-id');
  const bucketKey = header(call.headers, 'x-amz-server-side-encryption-bucket-key-enabled');
  if (algorithm !== undefined && !(ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw awsErrors.invalidArgument('The encryption method specified is not supported', 'x-amz-server-side-encryption', algorithm);
  }
  if (keyId !== undefined && (algorithm === undefined || !isKms(algorithm as SseAlgorithm))) {
    throw awsErrors.invalidArgument(
      'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms',
      'x-amz-server-side-encryption',
      algorithm ?? 'null',
    );
  }
  if (bucketKey !== undefined && !/^(true|false)$/i.test(bucketKey))
    throw awsErrors.invalidArgument('Invalid value for x-amz-server-side-encryption-bucket-key-enabled', 'x-amz-server-side-encryption-bucket-key-enabled', bucketKey);
  return { algorithm: algorithm as SseAlgorithm | undefined, keyId, bucketKey: bucketKey === undefined ? undefined : bucketKey.toLowerCase() === 'true' };
}

/** The condition keys S3 adds to a write's authorisation: the SSE headers as sent. */
export function encryptionConditions(call: S3Call): ConditionContext {
  return {
    's3:x-amz-server-side-encryption': header(call.headers, 'x-amz-server-side-encryption'),
    's3:x-amz-server-side-encryption-aws-kms-key-id': header(call.headers, 'x-amz-server-side-encryption-aws-kms-key-id'),
  };
}

/**
 * The encryption a new object (or multipart upload) gets, after checking that the caller may use
 * its KMS key for kms:GenerateDataKey. An unknown key is S3's 400 KMS.NotFoundException.
 */
export function encryptionForWrite(services: S3Services, call: S3Call, bucket: string): ObjectEncryption {
  const asked = requested(call);
  const fallback: BucketEncryption = services.store.bucketEncryption(bucket) ?? { algorithm: 'AES256', bucketKeyEnabled: false };
  const algorithm = asked.algorithm ?? fallback.algorithm;
  if (!isKms(algorithm)) return { algorithm };
  const reference = asked.algorithm ? asked.keyId : fallback.kmsMasterKeyId;
  const key = reference === undefined ? services.kms.managedS3Key() : services.kms.resolve(reference);
  const bucketKeyEnabled = asked.bucketKey ?? (isKms(fallback.algorithm) && fallback.bucketKeyEnabled);
  authorizeKey(services, call, key.arn, 'kms:GenerateDataKey', bucketKeyEnabled ? `arn:aws:s3:::${bucket}` : undefined);
  return { algorithm, kmsKeyArn: key.arn, bucketKeyEnabled: bucketKeyEnabled || undefined };
}

/** Throws unless the caller may use the object's KMS key for `action` (S3 asks KMS on the caller's behalf). */
export function authorizeKey(services: S3Services, call: S3Call, keyArn: string, action: string, bucketKeyArn?: string): void {
  const key = services.kms.resolve(keyArn);
  const objectArn = `arn:aws:s3:::${call.operation.bucket}/${call.operation.key}`;
  // S3's encryption context names the object, or the bucket when an S3 Bucket Key is used.
  services.kms.authorize(call.authn.caller, call.authn.principalArn, key, action, { ...call.conditions, 'kms:EncryptionContext:aws:s3:arn': bucketKeyArn ?? objectArn });
}

/** Decrypt check for reads and parts of an object encrypted with KMS; nothing to check for SSE-S3. */
export function authorizeDecrypt(services: S3Services, call: S3Call, encryption: ObjectEncryption): void {
  if (isKms(encryption.algorithm) && encryption.kmsKeyArn) {
    authorizeKey(services, call, encryption.kmsKeyArn, 'kms:Decrypt', encryption.bucketKeyEnabled ? `arn:aws:s3:::${call.operation.bucket}` : undefined);
  }
}

/**
 * S3's ETag of an object (or part) written in one request: the MD5 of its bytes, except under
 * SSE-KMS, where S3 documents it as not an MD5 of the data (clients must not check one against
 * the other).
 */
export function singleRequestEtag(payload: Buffer, encryption: ObjectEncryption): string {
  return isKms(encryption.algorithm) ? randomBytes(16).toString('hex') : createHash('md5').update(payload).digest('hex');
}
