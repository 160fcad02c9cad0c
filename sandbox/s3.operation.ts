import type { IncomingHttpHeaders } from 'node:http';
import { AwsError, awsErrors } from './sandbox.errors';
import { safeDecode } from './sigv4.verifier';

/** S3's bucket name shape, as the sandbox checks it in requests and in its IAM file. */
export const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * s3rver maps keys straight onto file paths, so `.`/`..` segments would escape the data
 * directory. S3 itself accepts such keys; the sandbox refuses them rather than let a
 * request touch files outside its storage.
 */
export function assertStorableKey(key: string): void {
  if (key.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new AwsError('InvalidArgument', 400, "The sandbox cannot store object keys with '.' or '..' path segments.", { ArgumentName: 'key' });
  }
}

/**
 * Maps a path-style S3 request to its API operation and the IAM action/resource AWS
 * authorises it against (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
 * Only operations this project uses are recognised; anything else is answered with
 * NotImplemented before storage is touched, so a client never gets a fake success.
 */
export interface S3Operation {
  name: string;
  action: string;
  /** ARN the action is authorised on. */
  resource: string;
  bucket?: string;
  key?: string;
  query: URLSearchParams;
}

export function classifyS3Request(method: string, rawUrl: string, headers: IncomingHttpHeaders): S3Operation {
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
  const slash = rawPath.indexOf('/', 1);
  const bucket = safeDecode(slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash)) || undefined;
  const key = slash < 0 ? undefined : safeDecode(rawPath.slice(slash + 1)) || undefined;
  const m = method.toUpperCase();

  const op = (name: string, action: string, resource: string): S3Operation => ({ name, action, resource, bucket, key, query });
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectArn = `arn:aws:s3:::${bucket}/${key}`;

  if (!bucket) {
    if (m === 'GET') return op('ListBuckets', 's3:ListAllMyBuckets', '*');
    throw awsErrors.notImplemented(`${m} /`);
  }
  // Also keeps names like `..` away from storage paths.
  if (!BUCKET_NAME.test(bucket)) {
    throw m === 'PUT' && key === undefined
      ? new AwsError('InvalidBucketName', 400, 'The specified bucket is not valid.', { BucketName: bucket })
      : awsErrors.noSuchBucket(bucket);
  }
  if (key !== undefined) assertStorableKey(key);
  if (key === undefined) {
    if (m === 'GET' && query.get('list-type') === '2') return op('ListObjectsV2', 's3:ListBucket', bucketArn);
    if (m === 'GET' && query.has('location')) return op('GetBucketLocation', 's3:GetBucketLocation', bucketArn);
    if (m === 'GET' && [...query.keys()].every((k) => ['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type', 'x-id'].includes(k))) {
      return op('ListObjects', 's3:ListBucket', bucketArn);
    }
    if (m === 'HEAD') return op('HeadBucket', 's3:ListBucket', bucketArn);
    if (m === 'PUT' && [...query.keys()].every((k) => k === 'x-id')) return op('CreateBucket', 's3:CreateBucket', bucketArn);
    if (m === 'DELETE' && [...query.keys()].every((k) => k === 'x-id')) return op('DeleteBucket', 's3:DeleteBucket', bucketArn);
    // DeleteObjects is authorised per key once the body is parsed; see s3.handler.
    if (m === 'POST' && query.has('delete')) return op('DeleteObjects', 's3:DeleteObject', bucketArn);
    throw awsErrors.notImplemented(`${m} bucket subresource ${[...query.keys()].join(',')}`);
  }
  if (headers['x-amz-copy-source']) throw awsErrors.notImplemented('CopyObject / UploadPartCopy');
  const only = (...allowed: string[]) => [...query.keys()].every((k) => k === 'x-id' || allowed.includes(k));
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
      if (only('versionId', 'partNumber', 'response-content-type', 'response-content-disposition', 'response-cache-control', 'response-content-encoding', 'response-content-language', 'response-expires')) {
        return op('GetObject', 's3:GetObject', objectArn);
      }
      break;
    case 'HEAD':
      if (only('versionId', 'partNumber')) return op('HeadObject', 's3:GetObject', objectArn);
      break;
  }
  throw awsErrors.notImplemented(`${m} object with query ${[...query.keys()].join(',')}`);
}
