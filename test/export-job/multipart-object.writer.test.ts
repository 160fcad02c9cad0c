import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MIN_PART_SIZE_BYTES, PartBufferPool, writeObjectInParts } from '../../src/export-job/multipart-object.writer';
import { awsError, openSandbox, patternBytes, s3Client } from '../sandbox/sandbox.fixture';

/** Splits `bytes` into chunks of uneven sizes, as gzip's output arrives. */
async function* unevenChunks(bytes: Buffer): AsyncGenerator<Buffer> {
  const sizes = [1, 16_384, 70_001, 3, 1_048_576, 999];
  for (let offset = 0, index = 0; offset < bytes.length; index++) {
    const size = sizes[index % sizes.length];
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}

/** What the writer reports for `bytes`: their SHA-256 is computed on the way, for the job's digest. */
function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Counts the buffers a pool hands out and takes back. */
function countingPool(): PartBufferPool & { acquired: Set<Buffer>; released: Buffer[] } {
  const pool = Object.assign(new PartBufferPool(MIN_PART_SIZE_BYTES, 3), { acquired: new Set<Buffer>(), released: [] as Buffer[] });
  const acquire = pool.acquire.bind(pool);
  const release = pool.release.bind(pool);
  pool.acquire = () => {
    const buffer = acquire();
    pool.acquired.add(buffer);
    return buffer;
  };
  pool.release = (buffer) => {
    pool.released.push(buffer);
    release(buffer);
  };
  return pool;
}

describe('writeObjectInParts (pooled part buffers → sandbox S3)', () => {
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  let writer: S3Client;
  let reader: S3Client;
  const Bucket = 'your-s3-bucket';

  beforeAll(async () => {
    sandbox = await openSandbox();
    writer = s3Client(sandbox, sandbox.user('exporter'), 10);
    reader = s3Client(sandbox, sandbox.user('auditor'));
  });
  afterEach(() => {
    sandbox.setFaults(null);
    // The exporter's policy in sandbox.iam.json; some tests change it.
    sandbox.setUserPolicies('exporter', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject'], Resource: `arn:aws:s3:::${Bucket}/*` }] }]);
  });
  afterAll(async () => {
    writer.destroy();
    reader.destroy();
    await sandbox.close();
  });

  const read = async (Key: string) => Buffer.from(await (await reader.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray());
  /** The writes the sandbox saw on a key (the test's own reads left out). */
  const operationsOn = (Key: string) =>
    sandbox.requests
      .filter((request) => request.key === Key && !['GetObject', 'HeadObject'].includes(request.operation))
      .map((request) => `${request.operation} ${request.status}`);

  it('sends an object larger than a part as a multipart upload, byte for byte, reusing its part buffers', async () => {
    const pool = countingPool();
    const body = patternBytes(2 * MIN_PART_SIZE_BYTES + 12_345, 5);
    const target = { Bucket, Key: 'writer/multipart.bin', ContentType: 'application/octet-stream', Metadata: { 'event-count': '7' } };

    expect(await writeObjectInParts(writer, target, unevenChunks(body), { pool, concurrency: 2 })).toEqual({ parts: 3, bytes: body.length, sha256: sha256(body) });
    expect((await read(target.Key)).equals(body)).toBe(true);
    expect(operationsOn(target.Key)).toEqual(['CreateMultipartUpload 200', 'UploadPart 200', 'UploadPart 200', 'UploadPart 200', 'CompleteMultipartUpload 200']);
    const head = await reader.send(new HeadObjectCommand({ Bucket, Key: target.Key }));
    expect(head.Metadata).toEqual({ 'event-count': '7' });

    // A second object of the same size is written from the same three buffers, not new ones.
    const second = patternBytes(2 * MIN_PART_SIZE_BYTES + 1, 6);
    await writeObjectInParts(writer, { Bucket, Key: 'writer/multipart-2.bin' }, unevenChunks(second), { pool, concurrency: 2 });
    expect((await read('writer/multipart-2.bin')).equals(second)).toBe(true);
    expect(pool.acquired.size).toBe(3);
  });

  it('sends exactly two parts for exactly two parts of data, and an empty object as an empty PutObject', async () => {
    const pool = countingPool();
    const body = patternBytes(2 * MIN_PART_SIZE_BYTES, 12);
    expect(await writeObjectInParts(writer, { Bucket, Key: 'writer/two-parts.bin' }, unevenChunks(body), { pool, concurrency: 2 })).toEqual({
      parts: 2,
      bytes: body.length,
      sha256: sha256(body),
    });
    expect((await read('writer/two-parts.bin')).equals(body)).toBe(true);
    expect(operationsOn('writer/two-parts.bin')).toEqual(['CreateMultipartUpload 200', 'UploadPart 200', 'UploadPart 200', 'CompleteMultipartUpload 200']);

    expect(await writeObjectInParts(writer, { Bucket, Key: 'writer/empty.bin' }, unevenChunks(Buffer.alloc(0)), { pool, concurrency: 2 })).toEqual({
      parts: 0,
      bytes: 0,
      sha256: sha256(Buffer.alloc(0)),
    });
    expect((await read('writer/empty.bin')).length).toBe(0);
    expect(operationsOn('writer/empty.bin')).toEqual(['PutObject 200']);
  });

  it('sends an object that fits in one part as a single PutObject', async () => {
    const body = patternBytes(MIN_PART_SIZE_BYTES, 8);
    const pool = new PartBufferPool(MIN_PART_SIZE_BYTES, 3);
    expect(await writeObjectInParts(writer, { Bucket, Key: 'writer/single.bin' }, unevenChunks(body), { pool, concurrency: 2 })).toEqual({
      parts: 0,
      bytes: body.length,
      sha256: sha256(body),
    });
    expect((await read('writer/single.bin')).equals(body)).toBe(true);
    expect(operationsOn('writer/single.bin')).toEqual(['PutObject 200']);
  });

  it('completes byte for byte while a third of S3 requests fail with 503 (the SDK resends the same buffer)', async () => {
    sandbox.setFaults({ s3FailureRatio: 1 / 3, status: 503, code: 'ServiceUnavailable' });
    const body = patternBytes(3 * MIN_PART_SIZE_BYTES + 99, 9);
    const pool = new PartBufferPool(MIN_PART_SIZE_BYTES, 3);
    await writeObjectInParts(writer, { Bucket, Key: 'writer/faulty.bin' }, unevenChunks(body), { pool, concurrency: 2 });
    sandbox.setFaults(null);
    expect((await read('writer/faulty.bin')).equals(body)).toBe(true);
    expect(operationsOn('writer/faulty.bin').filter((operation) => operation.endsWith(' 503')).length).toBeGreaterThan(0);
  });

  it('aborts the multipart upload when the source fails, stores nothing and throws the source error', async () => {
    sandbox.setUserPolicies('exporter', [
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: `arn:aws:s3:::${Bucket}/*` }] },
    ]);
    const failing = async function* () {
      yield* unevenChunks(patternBytes(MIN_PART_SIZE_BYTES + 10, 10));
      throw new Error('database connection lost');
    };
    const pool = new PartBufferPool(MIN_PART_SIZE_BYTES, 3);
    await expect(writeObjectInParts(writer, { Bucket, Key: 'writer/aborted.bin' }, failing(), { pool, concurrency: 2 })).rejects.toThrow('database connection lost');
    expect(operationsOn('writer/aborted.bin')).toEqual(['CreateMultipartUpload 200', 'UploadPart 200', 'AbortMultipartUpload 204']);
    expect((await awsError(read('writer/aborted.bin'))).name).toBe('NoSuchKey');
  });

  it('throws the original error, not the refused abort, when the key may not abort uploads', async () => {
    sandbox.setUserPolicies('exporter', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${Bucket}/*` }] }]);
    const failing = async function* () {
      yield* unevenChunks(patternBytes(MIN_PART_SIZE_BYTES + 10, 11));
      throw new Error('gzip failed');
    };
    const pool = new PartBufferPool(MIN_PART_SIZE_BYTES, 3);
    const error = await writeObjectInParts(writer, { Bucket, Key: 'writer/abort-denied.bin' }, failing(), { pool, concurrency: 2 }).catch((caught: unknown) => caught as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('gzip failed');
    expect(((error as Error).cause as { name?: string }).name).toBe('AccessDenied');
    expect((await awsError(read('writer/abort-denied.bin'))).name).toBe('NoSuchKey');
  });

  it('stops at a part S3 refuses for good: throws its error, aborts the upload, stores nothing and returns every buffer', async () => {
    const Key = 'writer/refused-part.bin';
    const pool = countingPool();
    const source = async function* () {
      yield patternBytes(MIN_PART_SIZE_BYTES + 10, 13); // part 1 goes out once this is read past
      while (!operationsOn(Key).includes('UploadPart 200')) await new Promise((resolve) => setTimeout(resolve, 5));
      // From part 2 on, the key may still abort the upload but no longer write.
      sandbox.setUserPolicies('exporter', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:AbortMultipartUpload', Resource: `arn:aws:s3:::${Bucket}/*` }] }]);
      for (let index = 0; index < 4; index++) yield* unevenChunks(patternBytes(MIN_PART_SIZE_BYTES, 14 + index));
    };
    const error = await writeObjectInParts(writer, { Bucket, Key }, source(), { pool, concurrency: 2 }).catch((caught: unknown) => caught as Error);
    expect(error).toMatchObject({ name: 'AccessDenied' });
    const operations = operationsOn(Key);
    expect(operations.slice(0, 2)).toEqual(['CreateMultipartUpload 200', 'UploadPart 200']);
    expect(operations).toContain('UploadPart 403');
    expect(operations.at(-1)).toBe('AbortMultipartUpload 204');
    expect(operations).not.toContain('CompleteMultipartUpload 200');
    expect((await awsError(read(Key))).name).toBe('NoSuchKey');
    expect(new Set(pool.released)).toEqual(pool.acquired);
  });

  it('refuses a part size below S3 minimum and a concurrency below 1', async () => {
    expect(() => new PartBufferPool(MIN_PART_SIZE_BYTES - 1, 3)).toThrow(/at least 5242880 bytes/);
    const pool = new PartBufferPool(MIN_PART_SIZE_BYTES, 3);
    await expect(writeObjectInParts(writer, { Bucket, Key: 'writer/never.bin' }, unevenChunks(Buffer.from('x')), { pool, concurrency: 0 })).rejects.toThrow(/at least 1/);
    expect(operationsOn('writer/never.bin')).toEqual([]);
  });
});
