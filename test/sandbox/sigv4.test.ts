import { createHash, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { crc32 } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import { S3Client } from '@aws-sdk/client-s3';
import { awsError, openSandbox, patternBytes, s3Client, stsClient } from './sandbox.fixture';

/** node:crypto behind the hash interface SignatureV4 expects (HMAC when given a key). */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: string | Uint8Array) {
    this.hash = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmacHex = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest('hex');

function signingKey(secret: string, date: string): Buffer {
  let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(date).digest();
  for (const part of ['us-east-1', 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return key;
}

function send(endpoint: string, req: { method: string; path: string; headers: Record<string, string>; body: Buffer }): Promise<{ status: number; body: string }> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

describe('sandbox SigV4 verification', () => {
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  const Bucket = 'your-s3-bucket';

  beforeAll(async () => {
    sandbox = await openSandbox();
  });
  afterAll(() => sandbox.close());

  it('rejects a wrong secret with SignatureDoesNotMatch (S3 and STS)', async () => {
    const exporter = sandbox.user('exporter');
    const wrong = { accessKeyId: exporter.accessKeyId, secretAccessKey: `${exporter.secretAccessKey}x` };
    const s3err = await awsError(s3Client(sandbox, wrong).send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x' })));
    expect(s3err).toMatchObject({ name: 'SignatureDoesNotMatch', status: 403 });
    const stsErr = await awsError(stsClient(sandbox, wrong).send(new GetCallerIdentityCommand({})));
    expect(stsErr).toMatchObject({ name: 'SignatureDoesNotMatch', status: 403 });
  });

  it('rejects an unknown access key (InvalidAccessKeyId for S3, InvalidClientTokenId for STS)', async () => {
    const unknown = { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'whatever-secret-000000000000000000000000' };
    const s3err = await awsError(s3Client(sandbox, unknown).send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x' })));
    expect(s3err).toMatchObject({ name: 'InvalidAccessKeyId', status: 403, message: 'The AWS Access Key Id you provided does not exist in our records.' });
    const stsErr = await awsError(stsClient(sandbox, unknown).send(new GetCallerIdentityCommand({})));
    expect(stsErr).toMatchObject({ name: 'InvalidClientTokenId', status: 403 });
  });

  it('accepts the right key and reports who signed (GetCallerIdentity)', async () => {
    const out = await stsClient(sandbox, sandbox.user('exporter')).send(new GetCallerIdentityCommand({}));
    expect(out.Arn).toBe(sandbox.user('exporter').arn);
    expect(out.Account).toBe(sandbox.accountId);
  });

  it('rejects a body altered after signing (signed hex payload hash) and stores nothing', async () => {
    const inner = new NodeHttpHandler();
    const tampering = new S3Client({
      region: 'us-east-1',
      endpoint: sandbox.endpoint,
      forcePathStyle: true,
      credentials: sandbox.user('exporter'),
      maxAttempts: 1,
      requestHandler: {
        handle: (request: HttpRequest, options?: { abortSignal?: AbortSignal }) => {
          // Same length, one byte different: only the payload hash can notice.
          request.body = Buffer.from('HELLO world');
          return inner.handle(request as never, options);
        },
      } as never,
    });
    const err = await awsError(tampering.send(new PutObjectCommand({ Bucket, Key: 'tampered', Body: 'hello world' })));
    expect(err).toMatchObject({ name: 'XAmzContentSHA256Mismatch', status: 400 });
    const auditor = s3Client(sandbox, sandbox.user('auditor'));
    expect(await awsError(auditor.send(new GetObjectCommand({ Bucket, Key: 'tampered' })))).toMatchObject({ name: 'NoSuchKey' });
  });

  describe('signed aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)', () => {
    // The JS SDK does not send signed chunks, other clients (Java SDK, CLI) do; so the
    // request is built here following https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
    async function signedChunkedPut(key: string, payload: Buffer, chunkSize: number, corrupt?: 'chunk-signature' | 'checksum') {
      const { accessKeyId, secretAccessKey } = sandbox.user('exporter');
      const url = new URL(sandbox.endpoint);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(corrupt === 'checksum' ? Buffer.concat([payload, Buffer.from('!')]) : payload));
      const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: { accessKeyId, secretAccessKey }, sha256: NodeSha256 as never, uriEscapePath: false });
      const signed = (await signer.sign({
        method: 'PUT',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: `/${Bucket}/${key}`,
        query: {},
        headers: {
          host: url.host,
          'content-encoding': 'aws-chunked',
          'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
          'x-amz-decoded-content-length': String(payload.length),
          'x-amz-trailer': 'x-amz-checksum-crc32',
        },
      } as never)) as unknown as HttpRequest;
      const headers = signed.headers as Record<string, string>;
      const amzDate = headers['x-amz-date'];
      const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
      const key4 = signingKey(secretAccessKey, amzDate.slice(0, 8));
      let previous = /Signature=([0-9a-f]{64})/.exec(headers.authorization)![1];
      const parts: Buffer[] = [];
      const chunks: Buffer[] = [];
      for (let i = 0; i < payload.length; i += chunkSize) chunks.push(payload.subarray(i, i + chunkSize));
      chunks.push(Buffer.alloc(0));
      for (const [i, chunk] of chunks.entries()) {
        let sig = hmacHex(key4, ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, sha256Hex(''), sha256Hex(chunk)].join('\n'));
        previous = sig;
        if (corrupt === 'chunk-signature' && i === 1) sig = sig.replace(/^./, (c) => (c === '0' ? '1' : '0'));
        parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${sig}\r\n`), chunk, chunk.length ? Buffer.from('\r\n') : Buffer.alloc(0));
      }
      const trailer = `x-amz-checksum-crc32:${crc.toString('base64')}\n`;
      const trailerSig = hmacHex(key4, ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, previous, sha256Hex(trailer)].join('\n'));
      parts.push(Buffer.from(`x-amz-checksum-crc32:${crc.toString('base64')}\r\nx-amz-trailer-signature:${trailerSig}\r\n\r\n`));
      const body = Buffer.concat(parts);
      return send(sandbox.endpoint, { method: 'PUT', path: `/${Bucket}/${key}`, headers: { ...headers, 'content-length': String(body.length) }, body });
    }

    async function stored(key: string): Promise<Buffer | string> {
      const auditor = s3Client(sandbox, sandbox.user('auditor'));
      try {
        const got = await auditor.send(new GetObjectCommand({ Bucket, Key: key }));
        return Buffer.from(await got.Body!.transformToByteArray());
      } catch (err) {
        return (err as Error).name;
      } finally {
        auditor.destroy();
      }
    }

    it('verifies the chunk chain and trailer, and stores only the payload', async () => {
      const payload = patternBytes(200_000, 5);
      const res = await signedChunkedPut('signed-chunks.bin', payload, 65_536);
      expect(res.status).toBe(200);
      expect(await stored('signed-chunks.bin')).toEqual(payload);
    });

    it('rejects a broken chunk signature with SignatureDoesNotMatch', async () => {
      const res = await signedChunkedPut('bad-chunk.bin', patternBytes(200_000, 6), 65_536, 'chunk-signature');
      expect(res.status).toBe(403);
      expect(res.body).toContain('<Code>SignatureDoesNotMatch</Code>');
      expect(await stored('bad-chunk.bin')).toBe('NoSuchKey');
    });

    it('rejects a trailing checksum that does not match the payload with BadDigest', async () => {
      const res = await signedChunkedPut('bad-crc.bin', patternBytes(100_000, 7), 65_536, 'checksum');
      expect(res.status).toBe(400);
      expect(res.body).toContain('<Code>BadDigest</Code>');
      expect(await stored('bad-crc.bin')).toBe('NoSuchKey');
    });
  });

  it('rejects requests without any signature', async () => {
    const res = await send(sandbox.endpoint, { method: 'PUT', path: `/${Bucket}/anon`, headers: {}, body: Buffer.from('x') });
    expect(res.status).toBe(403);
    expect(res.body).toContain('<Code>AccessDenied</Code>');
  });
});

describe('sandbox storage isolation', () => {
  it('stores keys with ../ segments as S3 does, inside its data directory, and never serves other files', async () => {
    const sandbox = await openSandbox();
    try {
      const auditor = s3Client(sandbox, sandbox.user('auditor'));
      // auditor may read every resource ("*"); the guard must not depend on policy.
      expect(await awsError(auditor.send(new GetObjectCommand({ Bucket: 'your-s3-bucket', Key: '../../../../etc/hostname' })))).toMatchObject({ name: 'NoSuchKey', status: 404 });
      // Were keys mapped onto paths, this one would land in the system's temporary directory.
      const escapee = path.join(os.tmpdir(), `sandbox-escape-${process.pid}-${Date.now()}`);
      const Key = `${'../'.repeat(20)}${escapee.slice(1)}`;
      await s3Client(sandbox, sandbox.user('exporter')).send(new PutObjectCommand({ Bucket: 'your-s3-bucket', Key, Body: 'inside' }));
      expect(existsSync(escapee)).toBe(false);
      const got = await auditor.send(new GetObjectCommand({ Bucket: 'your-s3-bucket', Key }));
      expect(await got.Body!.transformToString()).toBe('inside');
      const raw = await send(sandbox.endpoint, { method: 'GET', path: '/../etc/hostname', headers: {}, body: Buffer.alloc(0) });
      expect(raw.status).toBeGreaterThanOrEqual(400);
    } finally {
      await sandbox.close();
    }
  });
});
