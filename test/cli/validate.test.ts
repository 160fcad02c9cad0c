import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { DEFAULT_RUN_OPTIONS, ExportRunService } from '../../src/export-job/export-run.service';
import { ExportTaskUploader } from '../../src/export-job/export-task.uploader';
import { digestWriterFor, ingestEvents, silentLogger } from '../export-job/export-fixtures';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { openSandbox, s3Client } from '../sandbox/sandbox.fixture';
import { CliHarness, json, type CliResult } from './cli.fixture';

// 50 export jobs, then a dozen CLI processes (through tsx, about a second each, several on a loaded machine).
jest.setTimeout(300_000);

/**
 * `audit-export validate` (issue #10, item 5) as an auditor runs it: a child process with nothing
 * but read credentials for the bucket and the public keys from `audit-export digestKeys`, against
 * 50 export jobs of one configuration delivered to the sandbox, with a key rotation half-way.
 * Then the bucket is tampered with, step by step, and each change must be named.
 */

const BUCKET = 'your-s3-bucket';
const PATH = 'validate/audit';
const JOBS = 50;

let sandbox: Awaited<ReturnType<typeof openSandbox>>;
let t: TestApp;
let admin: CliHarness;
let auditor: CliHarness;
let pool: Pool;
let configurationId: string;
let keysFile: string;
let newKeyOnlyFile: string;
let newFingerprint: string;
let jobIds: string[];
/** Objects the 50 jobs delivered (the first job also carries the service's own audit events). */
let objectCount: number;

interface Report {
  result: 'valid' | 'invalid';
  digests: { found: number; verified: number };
  chains: Array<{ configurationId: string | null; status: string; digests: number; breaks: Array<{ digest: string; reason: string; detail: string }>; gaps: unknown[] }>;
  objects: Array<{ key: string; status: string; digest?: string; detail?: string }>;
  summary: Record<string, number>;
}

/** The auditor's environment: read-only keys, the sandbox as endpoint, no profile of the service. */
function auditorEnv(): Record<string, string> {
  const reader = sandbox.user('auditor');
  return {
    AWS_ACCESS_KEY_ID: reader.accessKeyId,
    AWS_SECRET_ACCESS_KEY: reader.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: sandbox.endpoint,
    AWS_S3_FORCE_PATH_STYLE: 'true',
  };
}

function validate(extra: string[] = [], env: Record<string, string> = auditorEnv()): Promise<CliResult> {
  return auditor.run(['validate', '--bucket', BUCKET, '--path', PATH, '--region', 'us-east-1', ...extra], { env });
}

async function validateJson(extra: string[] = []): Promise<{ code: number; report: Report }> {
  const result = await validate(['--public-keys', keysFile, '--output', 'json', ...extra]);
  if (result.code !== 0 && result.code !== 1) throw new Error(`validate exited ${result.code}: ${result.stderr}`);
  return { code: result.code, report: JSON.parse(result.stdout) as Report };
}

const notValid = (report: Report) => report.objects.filter((object) => object.status !== 'valid').map(({ key, status }) => ({ key, status }));

async function digestKeyOf(jobId: string): Promise<string> {
  const [row] = await t.db.query<{ digest_key: string }>('SELECT digest_key FROM export_jobs WHERE id = $1', [jobId]);
  return row.digest_key;
}

async function objectKeysOf(jobId: string): Promise<string[]> {
  return (await t.db.query<{ object_key: string }>('SELECT object_key FROM export_job_tasks WHERE job_id = $1 ORDER BY "offset"', [jobId])).map((row) => row.object_key);
}

beforeAll(async () => {
  sandbox = await openSandbox();
  t = await startTestApp({ sandbox });
  admin = new CliHarness();
  auditor = new CliHarness();
  const key = await t.createKey('admin', ['AUDIT']);
  expect((await admin.run(['configure', '--host', t.url, '--api-key', key])).code).toBe(0);

  // Created over the CLI as an admin would; integrityValidation is on by default.
  const exporter = sandbox.user('exporter');
  const file = admin.writeFile('exportConfig.json', {
    interval: 'EVERY_24_HOURS',
    bucket: BUCKET,
    path: PATH,
    region: 'us-east-1',
    accessKeyId: exporter.accessKeyId,
    secretAccessKey: exporter.secretAccessKey,
  });
  configurationId = json(await admin.run(['exportConfig', 'create:s3:accessKey', file])).data.createS3AccessKeyExportConfiguration.id;
  expect(json(await admin.run(['exportConfig', 'get', configurationId])).data.getExportConfiguration.integrityValidation).toBe(true);

  // 50 jobs of a few events each, two objects per job, delivered by the worker's run service; the
  // signing key is rotated (over GraphQL) after the 25th.
  pool = new Pool({ connectionString: t.db.url, max: 4 });
  const repository = new ExportJobRepository(t.app.prisma, pool);
  const runs = new ExportRunService(
    repository,
    new ExportTaskUploader(repository),
    digestWriterFor(t.app.prisma, repository, t.app.services.secretBox, t.app.services.digestSigningKeys),
    t.app.services.awsClients,
    { ...DEFAULT_RUN_OPTIONS, maxEventsPerTask: 2 },
    silentLogger,
  );
  jobIds = [];
  for (let job = 0; job < JOBS; job += 1) {
    await ingestEvents(t.app.prisma, 3, job * 3);
    const outcome = await runs.run(configurationId, 'SCHEDULED');
    if (outcome.status !== 'succeeded') throw new Error(`job ${job}: ${JSON.stringify(outcome)}`);
    jobIds.push(...outcome.jobIds);
    if (job === 24) {
      const rotated = await t.graphql({ query: 'mutation { rotateDigestSigningKey { fingerprint retiredAt } }' }, `Bearer ${key}`);
      expect(rotated.body.errors).toBeUndefined();
      newFingerprint = rotated.body.data!.rotateDigestSigningKey.fingerprint;
    }
  }
  expect(jobIds).toHaveLength(JOBS);
  objectCount = (await Promise.all(jobIds.map(objectKeysOf))).flat().length;
  expect(objectCount).toBeGreaterThanOrEqual(2 * JOBS);

  // The auditor gets the public keys from the service's operator: `digestKeys`, saved to a file.
  const keys = await admin.run(['digestKeys']);
  expect(keys.code).toBe(0);
  keysFile = join(auditor.dir, 'digest-keys.json');
  writeFileSync(keysFile, keys.stdout);
  const published = JSON.parse(keys.stdout).data.getDigestPublicKeys as Array<{ fingerprint: string; publicKeyPem: string; retiredAt: string | null }>;
  expect(published.map((entry) => entry.retiredAt === null)).toEqual([false, true]);
  expect(published[1].fingerprint).toBe(newFingerprint);
  newKeyOnlyFile = join(auditor.dir, 'new-key.pem');
  writeFileSync(newKeyOnlyFile, published[1].publicKeyPem);
});
afterAll(async () => {
  admin?.cleanup();
  auditor?.cleanup();
  await pool?.end();
  await t?.close();
  await sandbox?.close();
});

test('the untouched bucket: every object valid, one intact chain of 50 digests across the key rotation, exit 0', async () => {
  const { code, report } = await validateJson();
  expect(code).toBe(0);
  expect(report.result).toBe('valid');
  expect(report.digests).toEqual({ found: JOBS, verified: JOBS });
  expect(report.chains).toEqual([expect.objectContaining({ configurationId, status: 'intact', digests: JOBS, breaks: [], gaps: [] })]);
  expect(report.summary).toEqual({ valid: objectCount, modified: 0, missing: 0, 'not covered': 0 });
  // .immuta.export.log and the digests are expected, and not reported as objects.
  expect(report.objects.some((object) => object.key.endsWith('.immuta.export.log') || object.key.includes('/_digest/'))).toBe(false);

  const text = await validate(['--public-keys', keysFile]);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`Digests: ${JOBS} found, ${JOBS} verified`);
  expect(text.stdout).toContain(`Chain of configuration ${configurationId}: INTACT (${JOBS} digests`);
  expect(text.stdout).toContain(`Objects: ${objectCount} valid, 0 modified, 0 missing, 0 not covered`);
  expect(text.stdout).toMatch(/Result: VALID/);
});

test('only the new key trusted: the digests signed before the rotation are an unknown key, their objects not covered', async () => {
  const result = await validate(['--public-keys', newKeyOnlyFile, '--output', 'json']);
  expect(result.code).toBe(1);
  const report = JSON.parse(result.stdout) as Report;
  const signedBefore = await Promise.all(jobIds.slice(0, 25).map(digestKeyOf));
  const [chain] = report.chains;
  expect(chain.status).toBe('broken');
  expect(chain.breaks.map((entry) => entry.reason)).toEqual(signedBefore.map(() => 'unknown key'));
  expect(chain.breaks.map((entry) => entry.digest).sort()).toEqual([...signedBefore].sort());
  const uncovered = (await Promise.all(jobIds.slice(0, 25).map(objectKeysOf))).flat().sort();
  expect(report.summary).toEqual({ valid: objectCount - uncovered.length, modified: 0, missing: 0, 'not covered': uncovered.length });
  expect(report.objects.filter((object) => object.status === 'not covered').map((object) => object.key)).toEqual(uncovered);

  // The same through a pinned fingerprint on the full key file.
  const pinned = await validate(['--public-keys', keysFile, '--public-key-fingerprint', newFingerprint, '--output', 'json']);
  expect(pinned.code).toBe(1);
  expect((JSON.parse(pinned.stdout) as Report).summary).toEqual(report.summary);
});

test('an AWS profile instead of the environment, and usage and access errors exit 2 and 3', async () => {
  const reader = sandbox.user('auditor');
  const credentials = join(auditor.dir, 'aws-credentials');
  writeFileSync(credentials, `[audit-reader]\naws_access_key_id = ${reader.accessKeyId}\naws_secret_access_key = ${reader.secretAccessKey}\n`);
  const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _secret, ...withoutKeys } = auditorEnv();
  const profileEnv = { ...withoutKeys, AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: join(auditor.dir, 'no-aws-config') };
  const withProfile = await validate(['--public-keys', keysFile, '--profile', 'audit-reader'], profileEnv);
  expect({ code: withProfile.code, stderr: withProfile.stderr }).toMatchObject({ code: 0 });

  const noKeys = await validate([]);
  expect(noKeys.code).toBe(2);
  expect(noKeys.stderr).toContain('--public-keys <file> is required');
  const badPin = await validate(['--public-keys', keysFile, '--public-key-fingerprint', 'ab'.repeat(32)]);
  expect(badPin.code).toBe(2);
  expect(badPin.stderr).toContain('no key in');
  const forged = join(auditor.dir, 'forged.json');
  const published = JSON.parse(readFileSync(keysFile, 'utf8'));
  published.data.getDigestPublicKeys[0].fingerprint = newFingerprint;
  writeFileSync(forged, JSON.stringify(published));
  const mislabelled = await validate(['--public-keys', forged]);
  expect(mislabelled.code).toBe(2);
  expect(mislabelled.stderr).toContain('the file is not what the service published');

  // The exporter may write but not list or read: the bucket cannot be read.
  const exporter = sandbox.user('exporter');
  const denied = await validate(['--public-keys', keysFile], { ...auditorEnv(), AWS_ACCESS_KEY_ID: exporter.accessKeyId, AWS_SECRET_ACCESS_KEY: exporter.secretAccessKey });
  expect(denied.code).toBe(3);
  expect(denied.stderr).toMatch(/could not read s3:\/\/your-s3-bucket\/validate\/audit\/: .*not authorized to perform: s3:ListBucket/);
});

test('one object modified, one deleted, one added: exactly those three are named, exit 1; then a digest altered by one byte breaks the chain there', async () => {
  const writer = s3Client(sandbox, sandbox.user('exporter'), 3);
  const reader = s3Client(sandbox, sandbox.user('auditor'));
  const read = async (key: string) => Buffer.from(await (await reader.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
  const [modified] = await objectKeysOf(jobIds[7]);
  const [, deleted] = await objectKeysOf(jobIds[31]);
  const added = `${PATH}/2026/12/01/00000000-0000-4000-8000-000000000000-0000000000.ndjson.gz`;
  // The exporter may also delete, for this test only.
  sandbox.setUserPolicies('exporter', [
    { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: `arn:aws:s3:::${BUCKET}/*` }] },
  ]);
  try {
    // Same size, one byte different: only the SHA-256 can tell.
    const rewritten = await read(modified);
    rewritten[rewritten.length - 5] ^= 0xff;
    await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: modified, Body: rewritten }));
    await writer.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: deleted }));
    await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: added, Body: Buffer.from('{"id":"an event the service never delivered"}\n') }));

    let { code, report } = await validateJson();
    expect(code).toBe(1);
    expect(report.result).toBe('invalid');
    expect(notValid(report)).toEqual(
      [
        { key: modified, status: 'modified' },
        { key: deleted, status: 'missing' },
        { key: added, status: 'not covered' },
      ].sort((a, b) => (a.key < b.key ? -1 : 1)),
    );
    expect(report.summary).toEqual({ valid: objectCount - 2, modified: 1, missing: 1, 'not covered': 1 });
    expect(report.objects.find((object) => object.key === modified)).toMatchObject({ digest: await digestKeyOf(jobIds[7]), detail: expect.stringContaining('SHA-256 differs') });
    // The digests themselves are untouched.
    expect(report.chains).toEqual([expect.objectContaining({ status: 'intact', breaks: [] })]);
    const text = await validate(['--public-keys', keysFile]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`  modified    ${modified} (`);
    expect(text.stdout).toContain(`  missing     ${deleted} (`);
    expect(text.stdout).toContain(`  not covered ${added} (`);
    expect(text.stdout).toMatch(/Result: INVALID/);

    // One byte of the 12th digest changes (a hex digit of an object's hash: still valid JSON).
    const altered = await digestKeyOf(jobIds[11]);
    const following = await digestKeyOf(jobIds[12]);
    const original = await read(altered);
    const at = original.indexOf('"sha256": "') + '"sha256": "'.length;
    const tampered = Buffer.from(original);
    tampered[at] = tampered[at] === 0x30 ? 0x31 : 0x30;
    expect(tampered.length).toBe(original.length);
    await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: altered, Body: tampered }));

    ({ code, report } = await validateJson());
    expect(code).toBe(1);
    const [chain] = report.chains;
    expect(chain.status).toBe('broken');
    expect(chain.breaks.map(({ digest, reason }) => ({ digest, reason }))).toEqual([
      { digest: altered, reason: 'bad signature' },
      { digest: following, reason: 'previous-hash mismatch' },
    ]);
    // An altered digest vouches for nothing: its objects are no longer covered.
    const ofAltered = await objectKeysOf(jobIds[11]);
    expect(report.objects.filter((object) => ofAltered.includes(object.key)).map((object) => object.status)).toEqual(['not covered', 'not covered']);
    const broken = await validate(['--public-keys', keysFile]);
    expect(broken.stdout).toContain(`  broken at ${altered}: bad signature (`);
    expect(broken.stdout).toContain(`Chain of configuration ${configurationId}: BROKEN`);
  } finally {
    sandbox.setUserPolicies('exporter', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject'], Resource: `arn:aws:s3:::${BUCKET}/*` }] }]);
    writer.destroy();
    reader.destroy();
  }
});

test('a configuration with integrity validation off writes no digest, and validate says there is nothing to rely on', async () => {
  const exporter = sandbox.user('exporter');
  const file = admin.writeFile('no-digests.json', {
    interval: 'EVERY_24_HOURS',
    bucket: BUCKET,
    path: 'validate/no-digests',
    region: 'us-east-1',
    accessKeyId: exporter.accessKeyId,
    secretAccessKey: exporter.secretAccessKey,
    integrityValidation: false,
  });
  const id = json(await admin.run(['exportConfig', 'create:s3:accessKey', file])).data.createS3AccessKeyExportConfiguration.id;
  const repository = new ExportJobRepository(t.app.prisma, pool);
  const runs = new ExportRunService(
    repository,
    new ExportTaskUploader(repository),
    digestWriterFor(t.app.prisma, repository, t.app.services.secretBox, t.app.services.digestSigningKeys),
    t.app.services.awsClients,
    { ...DEFAULT_RUN_OPTIONS, maxEventsPerTask: 100 },
    silentLogger,
  );
  await ingestEvents(t.app.prisma, 3, 1_000);
  await expect(runs.run(id, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded' });
  const result = await auditor.run(['validate', '--bucket', BUCKET, '--path', 'validate/no-digests', '--public-keys', keysFile, '--output', 'json'], { env: auditorEnv() });
  expect(result.code).toBe(1);
  const report = JSON.parse(result.stdout) as Report;
  expect(report.digests).toEqual({ found: 0, verified: 0 });
  expect(report.objects.length).toBeGreaterThan(0);
  expect(report.objects.every((object) => object.status === 'not covered')).toBe(true);
  expect(result.stdout).not.toContain('/_digest/');
});
