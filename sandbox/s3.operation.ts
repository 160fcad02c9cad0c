import type { IncomingHttpHeaders } from 'node:http';
import { AwsError, awsErrors } from './sandbox.errors';
import { safeDecode } from './sigv4.verifier';

/** S3's bucket name shape, as the sandbox checks it in requests and in its IAM file. */
export const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Maps a path-style S3 request to its API operation and the IAM action/resource AWS
 * authorises it against (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
 * Only operations this project and the AWS CLI's everyday commands use are recognised; anything
 * else is answered with NotImplemented before storage is touched, so a client never gets a fake
 * success.
 */
export interface S3Operation {
  name: S3OperationName;
  action: string;
  /** ARN the action is authorised on. */
  resource: string;
  bucket?: string;
  key?: string;
  query: URLSearchParams;
}

export type S3OperationName =
  | 'ListBuckets'
  | 'ListObjectsV2'
  | 'ListObjects'
  | 'ListMultipartUploads'
  | 'GetBucketLocation'
  | 'GetBucketEncryption'
  | 'PutBucketEncryption'
  | 'DeleteBucketEncryption'
  | 'HeadBucket'
  | 'CreateBucket'
  | 'DeleteBucket'
  | 'DeleteObjects'
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListParts';

const LIST_V1_PARAMS = ['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type'];
const LIST_V2_PARAMS = ['list-type', 'prefix', 'delimiter', 'continuation-token', 'start-after', 'max-keys', 'encoding-type', 'fetch-owner'];
const UPLOADS_PARAMS = ['uploads', 'prefix', 'delimiter', 'key-marker', 'upload-id-marker', 'max-uploads', 'encoding-type'];
const GET_OBJECT_PARAMS = [
  'versionId',
  'partNumber',
  'response-content-type',
  'response-content-disposition',
  'response-cache-control',
  'response-content-encoding',
  'response-content-language',
  'response-expires',
];

export function classifyS3Request(method: string, rawUrl: string, headers: IncomingHttpHeaders): S3Operation {
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
  const slash = rawPath.indexOf('/', 1);
  const bucket = safeDecode(slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash)) || undefined;
  const key = slash < 0 ? undefined : safeDecode(rawPath.slice(slash + 1)) || undefined;
  const m = method.toUpperCase();

  const op = (name: S3OperationName, action: string, resource: string): S3Operation => ({ name, action, resource, bucket, key, query });
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectArn = `arn:aws:s3:::${bucket}/${key}`;
  // The SDK adds `x-id=<Operation>` to some requests; S3 ignores it.
  const names = [...query.keys()].filter((k) => k !== 'x-id');
  const only = (...allowed: string[]) => names.every((k) => allowed.includes(k));

  if (!bucket) {
    if (m === 'GET' && only('max-buckets', 'continuation-token', 'prefix', 'bucket-region')) return op('ListBuckets', 's3:ListAllMyBuckets', '*');
    throw awsErrors.notImplemented(`${m} /`);
  }
  // Also keeps names like `..` away from storage paths, the only place a client's text is a path.
  if (!BUCKET_NAME.test(bucket)) {
    throw m === 'PUT' && key === undefined ? new AwsError('InvalidBucketName', 400, 'The specified bucket is not valid.', { BucketName: bucket }) : awsErrors.noSuchBucket(bucket);
  }
  if (key === undefined) {
    if (m === 'GET' && query.get('list-type') === '2' && only(...LIST_V2_PARAMS)) return op('ListObjectsV2', 's3:ListBucket', bucketArn);
    if (m === 'GET' && !query.has('list-type') && only(...LIST_V1_PARAMS)) return op('ListObjects', 's3:ListBucket', bucketArn);
    if (m === 'GET' && query.has('uploads') && only(...UPLOADS_PARAMS)) return op('ListMultipartUploads', 's3:ListBucketMultipartUploads', bucketArn);
    if (m === 'GET' && query.has('location') && only('location')) return op('GetBucketLocation', 's3:GetBucketLocation', bucketArn);
    if (query.has('encryption') && only('encryption')) {
      if (m === 'GET') return op('GetBucketEncryption', 's3:GetEncryptionConfiguration', bucketArn);
      // DeleteBucketEncryption has no action of its own in IAM.
      if (m === 'PUT') return op('PutBucketEncryption', 's3:PutEncryptionConfiguration', bucketArn);
      if (m === 'DELETE') return op('DeleteBucketEncryption', 's3:PutEncryptionConfiguration', bucketArn);
    }
    if (m === 'HEAD' && only()) return op('HeadBucket', 's3:ListBucket', bucketArn);
    if (m === 'PUT' && only()) return op('CreateBucket', 's3:CreateBucket', bucketArn);
    if (m === 'DELETE' && only()) return op('DeleteBucket', 's3:DeleteBucket', bucketArn);
    // DeleteObjects is authorised per key once the body is parsed; see s3.object.handler.
    if (m === 'POST' && query.has('delete') && only('delete')) return op('DeleteObjects', 's3:DeleteObject', bucketArn);
    throw awsErrors.notImplemented(`${m} bucket subresource ${names.join(',')}`);
  }
  if (headers['x-amz-copy-source']) throw awsErrors.notImplemented('CopyObject / UploadPartCopy');
  switch (m) {
    case 'PUT':
      if (query.has('uploadId') && query.has('partNumber') && only('uploadId', 'partNumber')) return op('UploadPart', 's3:PutObject', objectArn);
      if (only()) return op('PutObject', 's3:PutObject', objectArn);
      break;
    case 'POST':
      if (query.has('uploads') && only('uploads')) return op('CreateMultipartUpload', 's3:PutObject', objectArn);
      if (query.has('uploadId') && only('uploadId')) return op('CompleteMultipartUpload', 's3:PutObject', objectArn);
      break;
    case 'DELETE':
      if (query.has('uploadId') && only('uploadId')) return op('AbortMultipartUpload', 's3:AbortMultipartUpload', objectArn);
      if (only('versionId')) return op('DeleteObject', 's3:DeleteObject', objectArn);
      break;
    case 'GET':
      if (query.has('uploadId') && only('uploadId', 'max-parts', 'part-number-marker')) return op('ListParts', 's3:ListMultipartUploadParts', objectArn);
      if (only(...GET_OBJECT_PARAMS)) return op('GetObject', 's3:GetObject', objectArn);
      break;
    case 'HEAD':
      if (only('versionId', 'partNumber')) return op('HeadObject', 's3:GetObject', objectArn);
      break;
  }
  throw awsErrors.notImplemented(`${m} object with query ${names.join(',')}`);
}
