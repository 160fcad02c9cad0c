import type { BucketEncryption, SseAlgorithm } from './object.store';
import type { S3Answer, S3Call, S3Services } from './s3.handler';
import { AwsError, awsErrors } from './sandbox.errors';
import { el, xmlDocument, xmlElements, xmlText } from './s3.xml';

/** CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation and default encryption. */
export async function handleBucketOperation(services: S3Services, call: S3Call, bucket: string): Promise<S3Answer> {
  switch (call.operation.name) {
    case 'CreateBucket':
      // us-east-1 semantics: creating a bucket you already own succeeds.
      await services.store.createBucket(bucket);
      return { status: 200, headers: { location: `/${bucket}` } };
    case 'DeleteBucket':
      if (!(await services.store.deleteBucket(bucket))) {
        throw new AwsError('BucketNotEmpty', 409, 'The bucket you tried to delete is not empty', { BucketName: bucket });
      }
      return { status: 204 };
    case 'HeadBucket':
      return { status: 200, headers: { 'x-amz-bucket-region': services.region } };
    case 'GetBucketLocation': {
      // S3 reports us-east-1 as an empty LocationConstraint.
      const inner = services.region === 'us-east-1' ? '' : services.region;
      return { status: 200, headers: { 'content-type': 'application/xml' }, body: xmlDocument('LocationConstraint', inner) };
    }
    case 'PutBucketEncryption':
      await services.store.setBucketEncryption(bucket, parseEncryptionConfiguration(call));
      return { status: 200 };
    case 'GetBucketEncryption': {
      // Every bucket has a default since 2023: SSE-S3 unless configured otherwise.
      const current = services.store.bucketEncryption(bucket) ?? { algorithm: 'AES256', bucketKeyEnabled: false };
      const rule =
        `<Rule><ApplyServerSideEncryptionByDefault>${el('SSEAlgorithm', current.algorithm)}${el('KMSMasterKeyID', current.kmsMasterKeyId)}</ApplyServerSideEncryptionByDefault>` +
        `${el('BucketKeyEnabled', current.bucketKeyEnabled)}</Rule>`;
      return { status: 200, headers: { 'content-type': 'application/xml' }, body: xmlDocument('ServerSideEncryptionConfiguration', rule) };
    }
    case 'DeleteBucketEncryption':
      // Back to the SSE-S3 default.
      await services.store.setBucketEncryption(bucket, undefined);
      return { status: 204 };
    default:
      throw awsErrors.notImplemented(call.operation.name);
  }
}

/** A PutBucketEncryption body, checked as S3 checks it (one rule; a key only with a KMS algorithm). */
function parseEncryptionConfiguration(call: S3Call): BucketEncryption {
  // S3 requires the body's integrity to be stated for this operation; SDKs and the CLI send it.
  if (!call.body.contentMd5 && !call.body.checksum) throw awsErrors.invalidRequest('Missing required header for this request: Content-Md5 OR x-amz-checksum-*');
  const xml = call.body.payload.toString('utf8');
  const rules = xmlElements(xml, 'Rule');
  if (!/<ServerSideEncryptionConfiguration[\s>]/.test(xml) || rules.length !== 1) throw awsErrors.malformedXml();
  const algorithm = xmlText(rules[0], 'SSEAlgorithm');
  const keyId = xmlText(rules[0], 'KMSMasterKeyID');
  const bucketKey = xmlText(rules[0], 'BucketKeyEnabled');
  if (!algorithm || !['AES256', 'aws:kms', 'aws:kms:dsse'].includes(algorithm) || (bucketKey !== undefined && !/^(true|false)$/.test(bucketKey))) throw awsErrors.malformedXml();
  if (keyId !== undefined && algorithm === 'AES256') {
    throw awsErrors.invalidArgument('a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse', 'ApplyServerSideEncryptionByDefault');
  }
  // Like S3, the key is not looked up here: a missing one fails the writes that would use it.
  return { algorithm: algorithm as SseAlgorithm, kmsMasterKeyId: keyId || undefined, bucketKeyEnabled: bucketKey === 'true' };
}
