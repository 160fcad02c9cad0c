import type { S3Answer, S3Call, S3Services } from './s3.handler';
import { AwsError, awsErrors } from './sandbox.errors';
import { xmlDocument } from './s3.xml';

/** CreateBucket, DeleteBucket, HeadBucket and GetBucketLocation. */
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
    default:
      throw awsErrors.notImplemented(call.operation.name);
  }
}
