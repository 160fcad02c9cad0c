import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import {
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { compositeChecksum, computeChecksum } from '../../sandbox/checksum.util';
import { awsError, openSandbox, patternBytes, s3Client } from './sandbox.fixture';

const md5 = (data: Buffer) => createHash('md5').update(data).digest();
const crc32Base64 = (data: Buffer) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out.toString('base64');
};
const MiB = 1024 * 1024;

describe('checksum algorithms (pure logic, standard check values)', () => {
  const check = Buffer.from('123456789');
  const hex = (base64: string) => Buffer.from(base64, 'base64').toString('hex');

  it('computes CRC32, the hand-written CRC32C and CRC64NVME to their published check values', () => {
    expect(hex(computeChecksum('crc32', check))).toBe('cbf43926');
    expect(hex(computeChecksum('crc32c', check))).toBe('e3069283');
    expect(hex(computeChecksum('crc64nvme', check))).toBe('ae8b14860a799888');
    // RFC 3720 (iSCSI) test vector: 32 bytes of zeros.
    expect(hex(computeChecksum('crc32c', Buffer.alloc(32)))).toBe('8a9136aa');
    expect(computeChecksum('sha256', Buffer.alloc(0))).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  });

  it('builds a composite checksum from the binary part checksums, suffixed with the part count', () => {
    const parts = [Buffer.from('a'), Buffer.from('bc')].map((p) => computeChecksum('crc32', p));
    expect(compositeChecksum('crc32', parts)).toBe(`${crc32Base64(Buffer.concat(parts.map((p) => Buffer.from(p, 'base64'))))}-2`);
  });
});

describe('sandbox S3 storage (own implementation) through the AWS SDK', () => {
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  let s3: S3Client;
  const Bucket = 'audit-exports';

  beforeAll(async () => {
    sandbox = await openSandbox();
    sandbox.setUserPolicies('auditor', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }]);
    s3 = s3Client(sandbox, sandbox.user('auditor'));
  });
  afterAll(async () => {
    s3.destroy();
    await sandbox.close();
  });

  const put = (Key: string, Body: string | Buffer = Key) => s3.send(new PutObjectCommand({ Bucket, Key, Body }));

  describe('listings', () => {
    beforeAll(async () => {
      for (const Key of ['p/2026/11/21/a.json', 'p/2026/11/21/b.json', 'p/2026/11/22/c.json', 'p/2026/12/01/d.json', 'p/top.json', 'q/other.json']) await put(Key);
    });

    it('returns common prefixes at every depth of a delimited listing', async () => {
      const level = async (Prefix: string) => {
        const out = await s3.send(new ListObjectsV2Command({ Bucket, Prefix, Delimiter: '/' }));
        return { prefixes: out.CommonPrefixes?.map((p) => p.Prefix), keys: out.Contents?.map((c) => c.Key), keyCount: out.KeyCount };
      };
      expect(await level('')).toEqual({ prefixes: ['p/', 'q/'], keys: undefined, keyCount: 2 });
      expect(await level('p/')).toEqual({ prefixes: ['p/2026/'], keys: ['p/top.json'], keyCount: 2 });
      expect(await level('p/2026/')).toEqual({ prefixes: ['p/2026/11/', 'p/2026/12/'], keys: undefined, keyCount: 2 });
      expect(await level('p/2026/11/')).toEqual({ prefixes: ['p/2026/11/21/', 'p/2026/11/22/'], keys: undefined, keyCount: 2 });
      expect(await level('p/2026/11/21/')).toEqual({ prefixes: undefined, keys: ['p/2026/11/21/a.json', 'p/2026/11/21/b.json'], keyCount: 2 });
    });

    it('pages ListObjectsV2 by continuation token, counting common prefixes against MaxKeys', async () => {
      const pages: Array<{ entries: string[]; truncated?: boolean }> = [];
      let ContinuationToken: string | undefined;
      do {
        const out: ListObjectsV2CommandOutput = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'p/', Delimiter: '/', MaxKeys: 1, ContinuationToken }));
        pages.push({ entries: [...(out.CommonPrefixes ?? []).map((p) => p.Prefix!), ...(out.Contents ?? []).map((c) => c.Key!)], truncated: out.IsTruncated });
        expect(out.KeyCount).toBe(1);
        ContinuationToken = out.NextContinuationToken;
      } while (ContinuationToken);
      expect(pages).toEqual([
        { entries: ['p/2026/'], truncated: true },
        { entries: ['p/top.json'], truncated: false },
      ]);

      const keys: string[] = [];
      ContinuationToken = undefined;
      do {
        const out: ListObjectsV2CommandOutput = await s3.send(new ListObjectsV2Command({ Bucket, MaxKeys: 2, ContinuationToken }));
        expect(out.Contents!.length).toBeLessThanOrEqual(2);
        keys.push(...out.Contents!.map((c) => c.Key!));
        ContinuationToken = out.NextContinuationToken;
      } while (ContinuationToken);
      expect(keys).toEqual(['p/2026/11/21/a.json', 'p/2026/11/21/b.json', 'p/2026/11/22/c.json', 'p/2026/12/01/d.json', 'p/top.json', 'q/other.json']);

      const after = await s3.send(new ListObjectsV2Command({ Bucket, StartAfter: 'p/2026/12/01/d.json' }));
      expect(after.Contents?.map((c) => c.Key)).toEqual(['p/top.json', 'q/other.json']);
      expect(await awsError(s3.send(new ListObjectsV2Command({ Bucket, ContinuationToken: 'not a token' })))).toMatchObject({ name: 'InvalidArgument', status: 400 });
    });

    it('pages ListObjects (v1) by marker, with NextMarker when a delimiter is given', async () => {
      const first = await s3.send(new ListObjectsCommand({ Bucket, Prefix: 'p/2026/', Delimiter: '/', MaxKeys: 1 }));
      expect(first).toMatchObject({ IsTruncated: true, NextMarker: 'p/2026/11/', CommonPrefixes: [{ Prefix: 'p/2026/11/' }] });
      const second = await s3.send(new ListObjectsCommand({ Bucket, Prefix: 'p/2026/', Delimiter: '/', MaxKeys: 1, Marker: first.NextMarker }));
      expect(second).toMatchObject({ IsTruncated: false, CommonPrefixes: [{ Prefix: 'p/2026/12/' }] });
      const plain = await s3.send(new ListObjectsCommand({ Bucket, Marker: 'p/top.json' }));
      expect(plain.Contents?.map((c) => c.Key)).toEqual(['q/other.json']);
      expect(plain.NextMarker).toBeUndefined();
    });

    it('lists keys in UTF-8 byte order, as S3 does', async () => {
      // U+FF5E sorts before U+1F600 in UTF-8 but after its UTF-16 surrogates.
      for (const Key of ['u/\u{1F600}', 'u/\uFF5E', 'u/z']) await put(Key);
      const out = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'u/' }));
      expect(out.Contents?.map((c) => c.Key)).toEqual(['u/z', 'u/\uFF5E', 'u/\u{1F600}']);
    });
  });

  describe('multipart uploads', () => {
    const Key = 'mp/object.bin';
    const part1 = patternBytes(5 * MiB, 21);
    const part2 = patternBytes(100, 22);
    let UploadId: string;
    let parts: Array<{ PartNumber: number; ETag: string; ChecksumCRC32: string }>;

    beforeAll(async () => {
      ({ UploadId } = (await s3.send(new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm: ChecksumAlgorithm.CRC32, ContentType: 'application/x-test' }))) as {
        UploadId: string;
      });
      parts = [];
      for (const [index, Body] of [part1, part2].entries()) {
        const out = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: index + 1, Body, ChecksumAlgorithm: ChecksumAlgorithm.CRC32 }));
        parts.push({ PartNumber: index + 1, ETag: out.ETag!, ChecksumCRC32: out.ChecksumCRC32! });
      }
    });

    it('lists the parts uploaded so far with their sizes, ETags and checksums', async () => {
      const listed = await s3.send(new ListPartsCommand({ Bucket, Key, UploadId }));
      expect(listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag, p.ChecksumCRC32])).toEqual([
        [1, part1.length, `"${md5(part1).toString('hex')}"`, crc32Base64(part1)],
        [2, part2.length, `"${md5(part2).toString('hex')}"`, crc32Base64(part2)],
      ]);
      expect(listed.ChecksumAlgorithm).toBe('CRC32');
    });

    it('refuses a part list out of order, a wrong ETag, a missing part checksum or part, and a part of another checksum algorithm', async () => {
      const complete = (Parts: object[]) => s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
      expect(await awsError(complete([parts[1], parts[0]]))).toMatchObject({
        name: 'InvalidPartOrder',
        message: 'The list of parts was not in ascending order. Parts must be ordered by part number.',
      });
      expect(await awsError(complete([{ ...parts[0], ETag: '"00000000000000000000000000000000"' }, parts[1]]))).toMatchObject({ name: 'InvalidPart', status: 400 });
      expect(await awsError(complete([{ PartNumber: 1, ETag: parts[0].ETag }, parts[1]]))).toMatchObject({
        name: 'InvalidRequest',
        message: 'The upload was created using a crc32 checksum. The complete request must include the checksum for each part. It was missing for part 1 in the request.',
      });
      expect(await awsError(complete([parts[0], { ...parts[1], PartNumber: 3 }]))).toMatchObject({ name: 'InvalidPart' });
      expect(await awsError(s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 3, Body: 'x', ChecksumAlgorithm: ChecksumAlgorithm.SHA256 })))).toMatchObject({
        name: 'InvalidRequest',
        message: 'Checksum Type mismatch occurred, expected checksum Type: crc32, actual checksum Type: sha256',
      });
      expect((await awsError(s3.send(new HeadObjectCommand({ Bucket, Key })))).status).toBe(404);
    });

    it('completes with S3 multipart ETag and composite checksum, and serves parts and ranges', async () => {
      const smallFirst = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mp/small-first.bin' }));
      for (const PartNumber of [1, 2]) await s3.send(new UploadPartCommand({ Bucket, Key: 'mp/small-first.bin', UploadId: smallFirst.UploadId, PartNumber, Body: part2 }));
      const tooSmall = await awsError(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket,
            Key: 'mp/small-first.bin',
            UploadId: smallFirst.UploadId,
            MultipartUpload: { Parts: [1, 2].map((PartNumber) => ({ PartNumber, ETag: `"${md5(part2).toString('hex')}"` })) },
          }),
        ),
      );
      expect(tooSmall).toMatchObject({ name: 'EntityTooSmall', status: 400, message: 'Your proposed upload is smaller than the minimum allowed size' });

      const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
      const etag = `"${md5(Buffer.concat([md5(part1), md5(part2)])).toString('hex')}-2"`;
      const checksum = `${crc32Base64(Buffer.concat([crc32Base64(part1), crc32Base64(part2)].map((c) => Buffer.from(c, 'base64'))))}-2`;
      expect(done).toMatchObject({ ETag: etag, ChecksumCRC32: checksum, ChecksumType: 'COMPOSITE' });

      const head = await s3.send(new HeadObjectCommand({ Bucket, Key, ChecksumMode: 'ENABLED' }));
      expect(head).toMatchObject({ ETag: etag, ChecksumCRC32: checksum, ChecksumType: 'COMPOSITE', ContentLength: part1.length + part2.length, ContentType: 'application/x-test' });
      const whole = await s3.send(new GetObjectCommand({ Bucket, Key }));
      expect(Buffer.from(await whole.Body!.transformToByteArray()).equals(Buffer.concat([part1, part2]))).toBe(true);

      const second = await s3.send(new GetObjectCommand({ Bucket, Key, PartNumber: 2 }));
      expect(second).toMatchObject({ PartsCount: 2, ContentRange: `bytes ${part1.length}-${part1.length + 99}/${part1.length + 100}` });
      expect(Buffer.from(await second.Body!.transformToByteArray()).equals(part2)).toBe(true);
      const range = await s3.send(new GetObjectCommand({ Bucket, Key, Range: 'bytes=-10' }));
      expect(range.ContentRange).toBe(`bytes ${part1.length + 90}-${part1.length + 99}/${part1.length + 100}`);
      expect(Buffer.from(await range.Body!.transformToByteArray()).equals(part2.subarray(90))).toBe(true);
      expect(await awsError(s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${part1.length + 100}-` })))).toMatchObject({ name: 'InvalidRange', status: 416 });
      expect(await awsError(s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 3, Body: 'x' })))).toMatchObject({ name: 'NoSuchUpload', status: 404 });
    });
  });

  it('gives a FULL_OBJECT multipart upload the checksum of the whole object, refusing a wrong stated one before it is visible', async () => {
    const Key = 'mp/full-object.bin';
    const bodies = [patternBytes(5 * MiB, 51), patternBytes(1234, 52)];
    const start = () => s3.send(new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm: ChecksumAlgorithm.CRC32, ChecksumType: 'FULL_OBJECT' }));
    const upload = async (UploadId: string) =>
      Promise.all(
        bodies.map(async (Body, index) => {
          const out = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: index + 1, Body, ChecksumAlgorithm: ChecksumAlgorithm.CRC32 }));
          return { PartNumber: index + 1, ETag: out.ETag!, ChecksumCRC32: out.ChecksumCRC32! };
        }),
      );
    const whole = crc32Base64(Buffer.concat(bodies));

    const first = await start();
    const firstParts = await upload(first.UploadId!);
    const complete = (UploadId: string, Parts: object[], ChecksumCRC32: string) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts }, ChecksumCRC32, ChecksumType: 'FULL_OBJECT' }));
    expect(await awsError(complete(first.UploadId!, firstParts, crc32Base64(Buffer.from('not the object'))))).toMatchObject({
      name: 'BadDigest',
      message: 'The crc32 you specified did not match the calculated checksum.',
    });
    expect((await awsError(s3.send(new HeadObjectCommand({ Bucket, Key })))).status).toBe(404);
    expect(
      await awsError(s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: first.UploadId, MultipartUpload: { Parts: firstParts }, ChecksumType: 'COMPOSITE' }))),
    ).toMatchObject({ name: 'InvalidRequest', message: 'The upload was created using the FULL_OBJECT checksum mode. The complete request must use the same checksum mode.' });

    expect(await complete(first.UploadId!, firstParts, whole)).toMatchObject({ ChecksumCRC32: whole, ChecksumType: 'FULL_OBJECT' });
    expect(await s3.send(new HeadObjectCommand({ Bucket, Key, ChecksumMode: 'ENABLED' }))).toMatchObject({ ChecksumCRC32: whole, ChecksumType: 'FULL_OBJECT' });
  });

  describe('checksums and Content-MD5', () => {
    it.each([ChecksumAlgorithm.CRC32, ChecksumAlgorithm.CRC32C, ChecksumAlgorithm.CRC64NVME, ChecksumAlgorithm.SHA1, ChecksumAlgorithm.SHA256])(
      'verifies the %s the SDK computes, stores it and returns it with checksum mode',
      async (algorithm) => {
        const Key = `sums/${algorithm}`;
        const Body = patternBytes(70_001, 31);
        const field = `Checksum${algorithm}` as 'ChecksumCRC32';
        const expected = computeChecksum(algorithm.toLowerCase() as 'crc32', Body);
        const written = await s3.send(new PutObjectCommand({ Bucket, Key, Body, ChecksumAlgorithm: algorithm }));
        expect(written[field]).toBe(expected);
        const head = await s3.send(new HeadObjectCommand({ Bucket, Key, ChecksumMode: 'ENABLED' }));
        expect(head).toMatchObject({ [field]: expected, ChecksumType: 'FULL_OBJECT' });
        // Without checksum mode, S3 does not send it.
        expect((await s3.send(new HeadObjectCommand({ Bucket, Key })))[field]).toBeUndefined();
      },
    );

    it('refuses a wrong checksum or Content-MD5 with BadDigest and a malformed one as S3 does, storing nothing', async () => {
      const Key = 'sums/wrong';
      const wrongSha = computeChecksum('sha256', Buffer.from('other'));
      expect(await awsError(s3.send(new PutObjectCommand({ Bucket, Key, Body: 'data', ChecksumSHA256: wrongSha })))).toEqual({
        name: 'BadDigest',
        status: 400,
        message: 'The SHA256 you specified did not match the calculated checksum.',
      });
      expect(await awsError(s3.send(new PutObjectCommand({ Bucket, Key, Body: 'data', ContentMD5: md5(Buffer.from('other')).toString('base64') })))).toEqual({
        name: 'BadDigest',
        status: 400,
        message: 'The Content-MD5 you specified did not match what we received.',
      });
      expect(await awsError(s3.send(new PutObjectCommand({ Bucket, Key, Body: 'data', ContentMD5: 'bm90LW1kNQ==' })))).toMatchObject({ name: 'InvalidDigest', status: 400 });
      expect(await awsError(s3.send(new PutObjectCommand({ Bucket, Key, Body: 'data', ChecksumCRC32: 'AAAA' })))).toMatchObject({
        name: 'InvalidRequest',
        message: 'Value for x-amz-checksum-crc32 header is invalid.',
      });
      expect((await awsError(s3.send(new HeadObjectCommand({ Bucket, Key })))).status).toBe(404);
    });
  });

  it('hides whether a key exists from a caller without s3:ListBucket (AccessDenied, as S3)', async () => {
    sandbox.setUserPolicies('exporter', [
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: `arn:aws:s3:::${Bucket}/*` }] },
    ]);
    const exporter = s3Client(sandbox, sandbox.user('exporter'));
    expect(await awsError(exporter.send(new GetObjectCommand({ Bucket, Key: 'never-written' })))).toMatchObject({ name: 'AccessDenied', status: 403 });
    expect(await awsError(s3.send(new GetObjectCommand({ Bucket, Key: 'never-written' })))).toMatchObject({ name: 'NoSuchKey', status: 404 });
    exporter.destroy();
  });

  it('keeps the last of concurrent overwrites whole: body, ETag and listing agree', async () => {
    const Key = 'race/one-key';
    const bodies = Array.from({ length: 8 }, (_, i) => patternBytes(200_000 + i, 40 + i));
    await Promise.all(bodies.map((Body) => put(Key, Body)));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
    const stored = Buffer.from(await got.Body!.transformToByteArray());
    const match = bodies.find((b) => b.equals(stored));
    expect(match).toBeDefined();
    expect(got.ETag).toBe(`"${md5(match!).toString('hex')}"`);
    expect((await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'race/' }))).Contents?.map((c) => [c.Key, c.Size])).toEqual([[Key, match!.length]]);
  });
});

describe('sandbox storage across restarts', () => {
  it('keeps objects in its data directory, and removes data files no write committed', async () => {
    const first = await openSandbox();
    const dataDir = first.dataDir;
    const Bucket = 'your-s3-bucket';
    const writer = s3Client(first, first.user('exporter'));
    await writer.send(new PutObjectCommand({ Bucket, Key: 'kept/one.json', Body: '{"kept":true}', ContentType: 'application/json', Metadata: { origin: 'test' } }));
    writer.destroy();
    await first.stop();
    // What an interrupted write leaves behind: a data file no sidecar points to.
    const objects = path.join(dataDir, 'buckets', Bucket, 'objects');
    await writeFile(path.join(objects, `${'0'.repeat(64)}.deadbeefdeadbeef.bin`), 'orphan');

    const second = await openSandbox({ dataDir });
    try {
      const reader = s3Client(second, second.user('auditor'));
      const got = await reader.send(new GetObjectCommand({ Bucket, Key: 'kept/one.json' }));
      expect(await got.Body!.transformToString()).toBe('{"kept":true}');
      expect(got).toMatchObject({ ContentType: 'application/json', Metadata: { origin: 'test' } });
      expect((await reader.send(new ListObjectsV2Command({ Bucket, Prefix: 'kept/' }))).Contents?.map((c) => c.Key)).toEqual(['kept/one.json']);
      expect((await readdir(objects)).filter((f) => f.startsWith('0'.repeat(64)))).toEqual([]);
      reader.destroy();
    } finally {
      await second.close();
    }
  });
});
