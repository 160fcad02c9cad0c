import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  UploadPartCommand,
  HeadBucketCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { awsError, openSandbox, patternBytes, s3Client } from './sandbox.fixture';

/** Stored bytes must be exactly what the client meant to upload, whatever framing the SDK used. */
describe('sandbox S3 storage through the AWS SDK', () => {
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  let writer: S3Client;
  let reader: S3Client;
  const Bucket = 'your-s3-bucket';

  beforeAll(async () => {
    sandbox = await openSandbox();
    writer = s3Client(sandbox, sandbox.user('exporter'));
    reader = s3Client(sandbox, sandbox.user('auditor'));
  });
  afterAll(async () => {
    writer.destroy();
    reader.destroy();
    await sandbox.close();
  });

  async function read(Key: string): Promise<Buffer> {
    const got = await reader.send(new GetObjectCommand({ Bucket, Key }));
    return Buffer.from(await got.Body!.transformToByteArray());
  }

  it('round-trips a small object, including a key that needs URL encoding', async () => {
    const Key = 'exports/2024 01/a+b=c&d.json';
    await writer.send(new PutObjectCommand({ Bucket, Key, Body: '{"hello":"world"}' }));
    expect((await read(Key)).toString()).toBe('{"hello":"world"}');
  });

  it('round-trips a ~10 MB single PutObject byte for byte', async () => {
    const body = patternBytes(10 * 1024 * 1024 + 17, 7);
    await writer.send(new PutObjectCommand({ Bucket, Key: 'big.bin', Body: body }));
    expect((await read('big.bin')).equals(body)).toBe(true);
  });

  it('stores the decoded payload of a streamed (aws-chunked, CRC32 trailer) upload', async () => {
    const body = patternBytes(300_001, 3);
    // A stream body makes the SDK send STREAMING-UNSIGNED-PAYLOAD-TRAILER framing.
    const Body = Readable.from([body.subarray(0, 100_000), body.subarray(100_000)]);
    await writer.send(new PutObjectCommand({ Bucket, Key: 'streamed.bin', Body, ContentLength: body.length }));
    const stored = await read('streamed.bin');
    expect(stored.length).toBe(body.length);
    expect(stored.equals(body)).toBe(true);
    const head = await reader.send(new HeadObjectCommand({ Bucket, Key: 'streamed.bin' }));
    // aws-chunked is transport framing; S3 does not keep it as the object's encoding.
    expect(head.ContentEncoding).toBeUndefined();
    expect(sandbox.requests.filter((r) => r.key === 'streamed.bin' && r.operation === 'PutObject').map((r) => r.status)).toEqual([200]);
  });

  it('assembles a multipart upload (lib-storage, 12 MB in 5 MB parts) byte for byte', async () => {
    const body = patternBytes(12 * 1024 * 1024, 11);
    await new Upload({ client: writer, params: { Bucket, Key: 'multipart.bin', Body: body }, partSize: 5 * 1024 * 1024, queueSize: 2 }).done();
    expect((await read('multipart.bin')).equals(body)).toBe(true);
    const ops = sandbox.requests.filter((r) => r.key === 'multipart.bin').map((r) => r.operation);
    expect(ops.filter((o) => o === 'UploadPart')).toHaveLength(3);
    expect(ops).toContain('CreateMultipartUpload');
    expect(ops).toContain('CompleteMultipartUpload');
  });

  it('lists, heads and deletes with the right permissions', async () => {
    const admin = s3Client(sandbox, sandbox.user('auditor'));
    sandbox.setUserPolicies('auditor', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:*'], Resource: '*' }] }]);
    await admin.send(new CreateBucketCommand({ Bucket: 'scratch-bucket' }));
    for (const Key of ['p/1', 'p/2', 'q/3']) await admin.send(new PutObjectCommand({ Bucket: 'scratch-bucket', Key, Body: Key }));
    const listed = await admin.send(new ListObjectsV2Command({ Bucket: 'scratch-bucket', Prefix: 'p/' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(['p/1', 'p/2']);
    expect((await admin.send(new HeadObjectCommand({ Bucket: 'scratch-bucket', Key: 'q/3' }))).ContentLength).toBe(3);
    await admin.send(new DeleteObjectCommand({ Bucket: 'scratch-bucket', Key: 'q/3' }));
    await admin.send(new DeleteObjectsCommand({ Bucket: 'scratch-bucket', Delete: { Objects: [{ Key: 'p/1' }, { Key: 'p/2' }] } }));
    expect((await admin.send(new ListObjectsV2Command({ Bucket: 'scratch-bucket' }))).KeyCount).toBe(0);
    admin.destroy();
  });

  it('aborts a multipart upload: later parts get NoSuchUpload and nothing is stored', async () => {
    const Key = 'aborted.bin';
    const { UploadId } = await writer.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    await writer.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: patternBytes(1024) }));
    // exporter has s3:PutObject only; AbortMultipartUpload is its own action in IAM.
    expect(await awsError(writer.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })))).toMatchObject({ name: 'AccessDenied', status: 403 });
    sandbox.setUserPolicies('exporter', [
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: `arn:aws:s3:::${Bucket}/*` }] },
    ]);
    await writer.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
    const err = await awsError(writer.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: 'x' })));
    expect(err).toMatchObject({ name: 'NoSuchUpload', status: 404 });
    expect((await awsError(read(Key))).name).toBe('NoSuchKey');
  });

  it('authorises DeleteObjects per key like S3 (refusals reported inside a 200)', async () => {
    sandbox.setUserPolicies('auditor', [
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket', 's3:PutObject'], Resource: '*' }] },
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:DeleteObject', Resource: `arn:aws:s3:::${Bucket}/tmp/*` }] },
    ]);
    for (const Key of ['tmp/a', 'keep/b']) await reader.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
    const out = await reader.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'tmp/a' }, { Key: 'keep/b' }] } }));
    expect(out.Deleted?.map((d) => d.Key)).toEqual(['tmp/a']);
    expect(out.Errors?.map((e) => [e.Key, e.Code])).toEqual([['keep/b', 'AccessDenied']]);
    expect((await read('keep/b')).toString()).toBe('keep/b');
    expect((await awsError(read('tmp/a'))).name).toBe('NoSuchKey');
    await reader.send(new HeadBucketCommand({ Bucket }));
  });

  it('answers NoSuchBucket for a bucket that does not exist', async () => {
    const err = await awsError(reader.send(new GetObjectCommand({ Bucket: 'no-such-bucket-here', Key: 'x' })));
    expect(err).toMatchObject({ name: 'NoSuchBucket', status: 404 });
  });

  it('answers NoSuchKey for a missing object', async () => {
    const err = await awsError(reader.send(new GetObjectCommand({ Bucket, Key: 'missing' })));
    expect(err).toMatchObject({ name: 'NoSuchKey', status: 404 });
  });
});
