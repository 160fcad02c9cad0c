import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { openSandbox, patternBytes, s3Client } from './sandbox.fixture';

/**
 * The sandbox as the AWS CLI sees it: Debian's `aws` (2.9, botocore + s3transfer), the client the
 * seeds tell customers to verify exports with. It found what the SDK-only tests had not (issue
 * #10): no CommonPrefixes below the first level, a 500 on every truncated listing, plain-MD5
 * multipart ETags. `.ci/run` installs it; these tests fail, not skip, without it.
 */

const AWS_CLI = '/usr/bin/aws';
const MiB = 1024 * 1024;
const Bucket = 'your-s3-bucket';
const CLI_TIMEOUT_MS = 120_000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the AWS CLI against the sandbox', () => {
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  let sdk: S3Client;
  let home: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    if (!existsSync(AWS_CLI)) {
      throw new Error(`These tests need the AWS CLI at ${AWS_CLI} (Debian: apt-get install awscli; .ci/run installs it when missing).`);
    }
    sandbox = await openSandbox({ httpsPort: 0 });
    // A user that may read and write the bucket.
    sandbox.setUserPolicies('auditor', [
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:*'], Resource: [`arn:aws:s3:::${Bucket}`, `arn:aws:s3:::${Bucket}/*`] }] },
    ]);
    sdk = s3Client(sandbox, sandbox.user('auditor'));
    home = await mkdtemp(path.join(os.tmpdir(), 'sandbox-awscli-'));
    const config = path.join(home, 'config');
    // What `aws configure set default.s3.addressing_style path` writes: the sandbox is path-style only.
    await writeFile(config, '[default]\ns3 =\n    addressing_style = path\n');
    const user = sandbox.user('auditor');
    env = {
      PATH: process.env.PATH,
      HOME: home,
      AWS_ACCESS_KEY_ID: user.accessKeyId,
      AWS_SECRET_ACCESS_KEY: user.secretAccessKey,
      AWS_DEFAULT_REGION: sandbox.region,
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_PAGER: '',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  });
  afterAll(async () => {
    sdk?.destroy();
    await sandbox?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  /**
   * Runs the CLI without blocking this process (the sandbox answers from its event loop). CLI
   * 2.9 predates AWS_ENDPOINT_URL (2.13), so the endpoint goes on the command line.
   */
  function aws(args: string[], options: { https?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const endpoint = options.https ? sandbox.httpsEndpoint! : sandbox.endpoint;
    return new Promise((resolve) => {
      execFile(AWS_CLI, ['--endpoint-url', endpoint, ...args], { env: { ...env, ...options.env }, timeout: CLI_TIMEOUT_MS, maxBuffer: 64 * MiB }, (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }
  async function ok(args: string[], options?: Parameters<typeof aws>[1]): Promise<string> {
    const result = await aws(args, options);
    if (result.code !== 0) throw new Error(`aws ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return result.stdout;
  }
  const json = async (args: string[], options?: Parameters<typeof aws>[1]) => JSON.parse(await ok([...args, '--output', 'json'], options)) as Record<string, unknown>;

  /** `aws s3 ls` lines as [kind, name]: PRE for a common prefix, the object's name otherwise. */
  const entries = (listing: string) =>
    listing
      .split('\n')
      .filter(Boolean)
      .map((line) => (/^\s+PRE (.*)$/.exec(line) ? ['PRE', /^\s+PRE (.*)$/.exec(line)![1]] : ['OBJ', line.trim().split(/\s+/).slice(3).join(' ')]));

  it(
    'shows the PRE folders of a path at every level (aws s3 ls)',
    async () => {
      const base = 'your-optional-s3-bucket-path';
      for (const Key of ['2026/11/21/a.json.gz', '2026/11/21/b.json.gz', '2026/11/22/c.json.gz', '2026/12/01/d.json.gz', '.immuta.export.log']) {
        await sdk.send(new PutObjectCommand({ Bucket, Key: `${base}/${Key}`, Body: Key }));
      }
      expect(entries(await ok(['s3', 'ls', `s3://${Bucket}/${base}/`]))).toEqual([
        ['PRE', '2026/'],
        ['OBJ', '.immuta.export.log'],
      ]);
      expect(entries(await ok(['s3', 'ls', `s3://${Bucket}/${base}/2026/`]))).toEqual([
        ['PRE', '11/'],
        ['PRE', '12/'],
      ]);
      expect(entries(await ok(['s3', 'ls', `s3://${Bucket}/${base}/2026/11/`]))).toEqual([
        ['PRE', '21/'],
        ['PRE', '22/'],
      ]);
      expect(entries(await ok(['s3', 'ls', `s3://${Bucket}/${base}/2026/11/21/`]))).toEqual([
        ['OBJ', 'a.json.gz'],
        ['OBJ', 'b.json.gz'],
      ]);
    },
    CLI_TIMEOUT_MS * 2,
  );

  it(
    'lists all 2,500 objects recursively (three pages of 1,000) and pages list-objects-v2 --max-keys 2',
    async () => {
      const keys = Array.from({ length: 2500 }, (_, i) => `many/${String(i % 7)}/object-${String(i).padStart(4, '0')} +&=.json`);
      for (let i = 0; i < keys.length; i += 25) {
        await Promise.all(keys.slice(i, i + 25).map((Key) => sdk.send(new PutObjectCommand({ Bucket, Key, Body: 'x' }))));
      }
      const listCalls = () => sandbox.requests.filter((r) => r.operation === 'ListObjectsV2' && r.status === 200).length;
      const before = listCalls();
      const listing = await ok(['s3', 'ls', '--recursive', '--summarize', `s3://${Bucket}/many/`]);
      const listed = entries(listing.split('\n\nTotal Objects')[0]).map(([, name]) => name);
      expect(listed.sort()).toEqual([...keys].sort());
      expect(listing).toMatch(/Total Objects: 2500/);
      // 1,000 + 1,000 + 500, each page after the first from the previous one's continuation token.
      expect(listCalls() - before).toBe(3);

      // --max-keys is one page: the caller follows NextContinuationToken itself.
      const paged = ['pages/a', 'pages/b', 'pages/c', 'pages/d', 'pages/e'];
      for (const Key of paged) await sdk.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
      const seen: string[] = [];
      let token: string | undefined;
      for (let page = 0; page < 5; page++) {
        const out = await json(['s3api', 'list-objects-v2', '--bucket', Bucket, '--prefix', 'pages/', '--max-keys', '2', ...(token ? ['--continuation-token', token] : [])]);
        const contents = (out.Contents as Array<{ Key: string }>).map((c) => c.Key);
        expect(contents.length).toBeLessThanOrEqual(2);
        expect(out.KeyCount).toBe(contents.length);
        seen.push(...contents);
        token = out.NextContinuationToken as string | undefined;
        expect(out.IsTruncated).toBe(token !== undefined);
        if (!token) break;
      }
      expect(seen).toEqual(paged);
    },
    CLI_TIMEOUT_MS * 3,
  );

  it(
    'round-trips 20 MB through aws s3 cp (multipart) with its sha256 and an S3 multipart ETag',
    async () => {
      const file = path.join(home, 'export.bin');
      const back = path.join(home, 'export.back.bin');
      const body = patternBytes(20 * 1000 * 1000, 99);
      await writeFile(file, body);
      await ok(['s3', 'cp', '--only-show-errors', file, `s3://${Bucket}/big/export.bin`]);
      await ok(['s3', 'cp', '--only-show-errors', `s3://${Bucket}/big/export.bin`, back]);
      const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
      expect(sha256(await readFile(back))).toBe(sha256(body));

      // The CLI's default multipart_chunksize is 8 MiB: 8 + 8 + 3.07 MiB.
      const chunk = 8 * MiB;
      const partMd5s: Buffer[] = [];
      for (let offset = 0; offset < body.length; offset += chunk)
        partMd5s.push(
          createHash('md5')
            .update(body.subarray(offset, offset + chunk))
            .digest(),
        );
      const head = await json(['s3api', 'head-object', '--bucket', Bucket, '--key', 'big/export.bin']);
      expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
      expect(head.ETag).toBe(`"${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-3"`);
      expect(sandbox.requests.filter((r) => r.key === 'big/export.bin' && r.operation === 'UploadPart' && r.status === 200)).toHaveLength(3);
    },
    CLI_TIMEOUT_MS * 2,
  );

  it(
    'returns the checksum put-object --checksum-algorithm sent, with head-object --checksum-mode ENABLED (HTTP and HTTPS)',
    async () => {
      const file = path.join(home, 'sums.json');
      const body = Buffer.from('{"event":"checksum"}\n');
      await writeFile(file, body);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(body));
      const cases = [
        { algorithm: 'SHA256', field: 'ChecksumSHA256', expected: createHash('sha256').update(body).digest('base64'), https: false },
        { algorithm: 'CRC32', field: 'ChecksumCRC32', expected: crc.toString('base64'), https: false },
        // Over HTTPS the CLI streams the body aws-chunked with the checksum as a trailer. CRC32C
        // comes from the CLI's own (CRT) implementation; the sandbox's is hand-written.
        { algorithm: 'CRC32C', field: 'ChecksumCRC32C', expected: undefined, https: true },
      ];
      for (const c of cases) {
        const options = c.https ? { https: true, env: { AWS_CA_BUNDLE: sandbox.caCertificateFile } } : {};
        const Key = `sums/${c.algorithm}`;
        const put = await json(['s3api', 'put-object', '--bucket', Bucket, '--key', Key, '--body', file, '--checksum-algorithm', c.algorithm], options);
        const head = await json(['s3api', 'head-object', '--bucket', Bucket, '--key', Key, '--checksum-mode', 'ENABLED'], options);
        expect(put[c.field]).toBeDefined();
        expect(head[c.field]).toBe(put[c.field]);
        if (c.expected) expect(head[c.field]).toBe(c.expected);
      }
    },
    CLI_TIMEOUT_MS * 3,
  );

  it(
    'refuses a 100-byte part that is not the last with EntityTooSmall (s3api)',
    async () => {
      const Key = 'small/parts.bin';
      const file = path.join(home, 'part.bin');
      await writeFile(file, patternBytes(100, 5));
      const { UploadId } = (await json(['s3api', 'create-multipart-upload', '--bucket', Bucket, '--key', Key])) as { UploadId: string };
      const parts = [];
      for (const PartNumber of [1, 2]) {
        const out = await json(['s3api', 'upload-part', '--bucket', Bucket, '--key', Key, '--upload-id', UploadId, '--part-number', String(PartNumber), '--body', file]);
        parts.push({ PartNumber, ETag: out.ETag });
      }
      const result = await aws([
        's3api',
        'complete-multipart-upload',
        '--bucket',
        Bucket,
        '--key',
        Key,
        '--upload-id',
        UploadId,
        '--multipart-upload',
        JSON.stringify({ Parts: parts }),
      ]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(
        'An error occurred (EntityTooSmall) when calling the CompleteMultipartUpload operation: Your proposed upload is smaller than the minimum allowed size',
      );
    },
    CLI_TIMEOUT_MS * 2,
  );

  it(
    'honours aws:SecureTransport: refused over HTTP, allowed over HTTPS with AWS_CA_BUNDLE, unverified certificate refused',
    async () => {
      // Keycard's ReadWriteWithTLS statement on the CLI user.
      sandbox.setUserPolicies('exporter', [
        {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'ReadWriteWithTLS',
              Effect: 'Allow',
              Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
              Resource: `arn:aws:s3:::${Bucket}/*`,
              Condition: { Bool: { 'aws:SecureTransport': 'true' } },
            },
          ],
        },
      ]);
      const exporter = sandbox.user('exporter');
      const asExporter = { AWS_ACCESS_KEY_ID: exporter.accessKeyId, AWS_SECRET_ACCESS_KEY: exporter.secretAccessKey };
      const file = path.join(home, 'tls.json');
      await writeFile(file, '{}');
      const plain = await aws(['s3', 'cp', '--only-show-errors', file, `s3://${Bucket}/tls/plain.json`], { env: asExporter });
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain(`An error occurred (AccessDenied) when calling the PutObject operation: User: ${exporter.arn} is not authorized to perform: s3:PutObject`);
      const unverified = await aws(['s3', 'cp', '--only-show-errors', file, `s3://${Bucket}/tls/unverified.json`], { https: true, env: asExporter });
      expect(unverified.code).not.toBe(0);
      expect(unverified.stderr).toMatch(/SSL validation failed|CERTIFICATE_VERIFY_FAILED/);
      await ok(['s3', 'cp', '--only-show-errors', file, `s3://${Bucket}/tls/secure.json`], { https: true, env: { ...asExporter, AWS_CA_BUNDLE: sandbox.caCertificateFile } });
      expect(sandbox.requests.filter((r) => r.key?.startsWith('tls/')).map((r) => [r.key, r.status])).toEqual([
        ['tls/plain.json', 403],
        ['tls/secure.json', 200],
      ]);
    },
    CLI_TIMEOUT_MS * 2,
  );
});
