import { Pool } from 'pg';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { DEFAULT_RUN_OPTIONS, ExportRunService } from '../../src/export-job/export-run.service';
import { ExportTaskUploader } from '../../src/export-job/export-task.uploader';
import { digestWriterFor, ingestEvents, silentLogger } from '../export-job/export-fixtures';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { openSandbox } from '../sandbox/sandbox.fixture';
import { startRecordingProxy, type RecordingProxy, type WireRequest } from '../support/recording-proxy';

jest.setTimeout(120_000);

/**
 * Server-side encryption (issue #10, item 3), end to end: GraphQL → PostgreSQL → the connection
 * test and the export's object writes → the wire. The sandbox stores objects and checks SigV4 but
 * does not know KMS yet and keeps no headers, so the requests go through a recording proxy in front
 * of it: the headers asserted here are the ones the sandbox received and verified the signature of.
 */

const REGION = 'us-east-1';
/** A key of the sandbox's KMS whose key policy lets the `exporter` user use it (created in beforeAll). */
let KMS_KEY = '';
let OTHER_KMS_KEY = '';
const KMS_ALIAS = 'arn:aws:kms:us-east-1:111122223333:alias/audit-logs';
const SSE = 'x-amz-server-side-encryption';
const SSE_KEY = 'x-amz-server-side-encryption-aws-kms-key-id';

const FIELDS = `id connectionStatus
  endpointConfiguration { ... on S3AccessKeyEndpointConfiguration { serverSideEncryption kmsKeyArn } ... on S3AssumedRoleEndpointConfiguration { serverSideEncryption kmsKeyArn } }`;
const CREATE = `mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) { ${FIELDS} } }`;
const UPDATE = `mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { ${FIELDS} } }`;
const POLICIES = `query($id: String!) { getExportConfigurationPolicies(id: $id) { permissionsPolicy } }`;

let sandbox: Awaited<ReturnType<typeof openSandbox>>;
let proxy: RecordingProxy;
let t: TestApp;
let auth: string;
let pool: Pool;
let runs: ExportRunService;

beforeAll(async () => {
  sandbox = await openSandbox();
  const exporterMayUse = {
    Version: '2012-10-17' as const,
    Statement: [{ Effect: 'Allow' as const, Principal: { AWS: sandbox.user('exporter').arn }, Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*' }],
  };
  KMS_KEY = sandbox.createKey({ keyPolicy: exporterMayUse }).arn;
  OTHER_KMS_KEY = sandbox.createKey({ keyPolicy: exporterMayUse }).arn;
  proxy = await startRecordingProxy(sandbox.endpoint);
  // Every AWS call of the app (connection tests, and the export run below, which uses the app's
  // AWS clients) goes through the proxy.
  t = await startTestApp({ sandbox, env: { AWS_ENDPOINT_URL: proxy.endpoint } });
  auth = `Bearer ${await t.createKey('admin', ['AUDIT'])}`;
  pool = new Pool({ connectionString: t.db.url, max: 4 });
  const repository = new ExportJobRepository(t.app.prisma, pool);
  runs = new ExportRunService(
    repository,
    new ExportTaskUploader(repository),
    digestWriterFor(t.app.prisma, repository, t.app.services.secretBox, t.app.services.digestSigningKeys),
    t.app.services.awsClients,
    { ...DEFAULT_RUN_OPTIONS, maxEventsPerTask: 1_000 },
    silentLogger,
  );
});
afterAll(async () => {
  await pool?.end();
  await t?.close();
  await proxy?.stop();
  await sandbox?.close();
});

async function gql(query: string, variables: Record<string, unknown>) {
  return (await t.graphql({ query, variables }, auth)).body;
}

async function create(path: string, encryption: Record<string, unknown>) {
  const exporter = sandbox.user('exporter');
  const body = await gql(CREATE, {
    data: {
      interval: 'EVERY_12_HOURS',
      bucket: 'your-s3-bucket',
      path,
      region: REGION,
      accessKeyId: exporter.accessKeyId,
      secretAccessKey: exporter.secretAccessKey,
      ...encryption,
    },
  });
  expect(body.errors).toBeUndefined();
  return body.data!.createS3AccessKeyExportConfiguration;
}

/** The SSE headers of a request, absent ones left out. */
function sseHeaders(request: WireRequest): Record<string, unknown> {
  return Object.fromEntries([SSE, SSE_KEY].filter((name) => request.headers[name] !== undefined).map((name) => [name, request.headers[name]]));
}

function writesUnder(path: string) {
  return proxy.objectWrites().filter((write) => write.key.startsWith(`${path}/`));
}

it('SSE-KMS with a key: the connection test and every object write of an export send aws:kms and the key', async () => {
  const created = await create('sse-kms', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: KMS_KEY });
  expect(created).toMatchObject({ connectionStatus: 'SUCCESS', endpointConfiguration: { serverSideEncryption: 'AWS_KMS', kmsKeyArn: KMS_KEY } });
  // Stored with the header's own spelling.
  const [row] = await t.db.query(`SELECT server_side_encryption::text AS sse, kms_key_arn FROM export_configurations WHERE id = $1`, [created.id]);
  expect(row).toEqual({ sse: 'aws:kms', kms_key_arn: KMS_KEY });

  const [test] = writesUnder('sse-kms');
  expect(test).toMatchObject({ operation: 'PutObject', key: 'sse-kms/.immuta.export.log' });
  expect(sseHeaders(test)).toEqual({ [SSE]: 'aws:kms', [SSE_KEY]: KMS_KEY });

  // A first task of about 6 MB of gzip (incompressible padding): a multipart upload; then a small one.
  await ingestEvents(t.app.prisma, 1_000, 0, 8_000);
  await ingestEvents(t.app.prisma, 10, 10_000);
  const writesBefore = writesUnder('sse-kms').length;
  await expect(runs.run(created.id, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded' });
  const writes = writesUnder('sse-kms').slice(writesBefore);
  const operations = new Set(writes.map((write) => write.operation));
  expect(operations).toEqual(new Set(['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'PutObject']));
  for (const write of writes) {
    // S3 takes SSE from the PutObject or the CreateMultipartUpload; parts and the completion carry none.
    const expected = ['PutObject', 'CreateMultipartUpload'].includes(write.operation) ? { [SSE]: 'aws:kms', [SSE_KEY]: KMS_KEY } : {};
    expect({ operation: write.operation, headers: sseHeaders(write) }).toEqual({ operation: write.operation, headers: expected });
  }
  await t.db.query('TRUNCATE audit_events');
});

it('AES256: only the x-amz-server-side-encryption header; SSE-KMS without a key: aws:kms and no key id', async () => {
  const s3Managed = await create('sse-s3', { serverSideEncryption: 'AES256' });
  expect(s3Managed).toMatchObject({ connectionStatus: 'SUCCESS', endpointConfiguration: { serverSideEncryption: 'AES256', kmsKeyArn: null } });
  expect(writesUnder('sse-s3').map(sseHeaders)).toEqual([{ [SSE]: 'AES256' }]);

  const awsManaged = await create('sse-aws-managed', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: null });
  expect(awsManaged).toMatchObject({ endpointConfiguration: { serverSideEncryption: 'AWS_KMS', kmsKeyArn: null } });
  expect(writesUnder('sse-aws-managed').map(sseHeaders)).toEqual([{ [SSE]: 'aws:kms' }]);
});

it('no setting: no SSE header on the connection test or the exports, exactly as before', async () => {
  const plain = await create('sse-none', {});
  expect(plain).toMatchObject({ connectionStatus: 'SUCCESS', endpointConfiguration: { serverSideEncryption: null, kmsKeyArn: null } });
  await ingestEvents(t.app.prisma, 5);
  await expect(runs.run(plain.id, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded' });
  const writes = writesUnder('sse-none');
  expect(writes.length).toBeGreaterThanOrEqual(2);
  for (const write of writes) expect(Object.keys(write.headers).filter((name) => name.startsWith(SSE))).toEqual([]);
  await t.db.query('TRUNCATE audit_events');
});

it('an update that changes the encryption re-tests the connection with the new headers; null removes them', async () => {
  const created = await create('sse-update', {});
  const before = writesUnder('sse-update').length;

  const withKey = await gql(UPDATE, { data: { id: created.id, serverSideEncryption: 'AWS_KMS', kmsKeyArn: KMS_KEY } });
  expect(withKey.errors).toBeUndefined();
  let writes = writesUnder('sse-update');
  expect(writes).toHaveLength(before + 1);
  expect(sseHeaders(writes[writes.length - 1])).toEqual({ [SSE]: 'aws:kms', [SSE_KEY]: KMS_KEY });

  // Only the key changes: tested again.
  const otherKey = OTHER_KMS_KEY;
  expect((await gql(UPDATE, { data: { id: created.id, kmsKeyArn: otherKey } })).errors).toBeUndefined();
  writes = writesUnder('sse-update');
  expect(writes).toHaveLength(before + 2);
  expect(sseHeaders(writes[writes.length - 1])).toEqual({ [SSE]: 'aws:kms', [SSE_KEY]: otherKey });

  // An interval change is not tested again.
  expect((await gql(UPDATE, { data: { id: created.id, interval: 'EVERY_6_HOURS' } })).errors).toBeUndefined();
  expect(writesUnder('sse-update')).toHaveLength(before + 2);

  const cleared = await gql(UPDATE, { data: { id: created.id, serverSideEncryption: null, kmsKeyArn: null } });
  expect(cleared.data!.updateS3AccessKeyExportConfiguration.endpointConfiguration).toEqual({ serverSideEncryption: null, kmsKeyArn: null });
  writes = writesUnder('sse-update');
  expect(writes).toHaveLength(before + 3);
  expect(sseHeaders(writes[writes.length - 1])).toEqual({});

  const audit = await t.db.query<{ fields: string[] }>(
    `SELECT body->'auditPayload'->'changedFields' AS fields FROM audit_events WHERE body->'auditPayload'->>'type' = 'ExportConfigurationUpdatedAuditPayload' AND (body->'targets')::jsonb @> $1::jsonb ORDER BY sequence`,
    [JSON.stringify([{ id: created.id }])],
  );
  expect(audit.map((event) => event.fields)).toEqual([['serverSideEncryption', 'kmsKeyArn'], ['kmsKeyArn'], ['interval'], ['serverSideEncryption', 'kmsKeyArn']]);
});

it('an update refuses a key without aws:kms, naming data.kmsKeyArn, and changes nothing', async () => {
  const created = await create('sse-refused', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: KMS_KEY });
  const [before] = await t.db.query(`SELECT version, server_side_encryption::text AS sse, kms_key_arn FROM export_configurations WHERE id = $1`, [created.id]);
  const writes = writesUnder('sse-refused').length;

  for (const data of [
    // The stored key would be left without aws:kms.
    { serverSideEncryption: 'AES256' },
    { serverSideEncryption: null },
    // A key in another region than the bucket.
    { kmsKeyArn: KMS_KEY.replace('us-east-1', 'eu-west-1') },
    // The bucket moves to another region than the stored key.
    { region: 'eu-west-1' },
  ]) {
    const body = await gql(UPDATE, { data: { id: created.id, ...data } });
    expect({ data, extensions: body.errors?.[0]?.extensions }).toEqual({ data, extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'data.kmsKeyArn' }) });
  }
  const [after] = await t.db.query(`SELECT version, server_side_encryption::text AS sse, kms_key_arn FROM export_configurations WHERE id = $1`, [created.id]);
  expect(after).toEqual(before);
  // Refused before the connection test: nothing was written.
  expect(writesUnder('sse-refused')).toHaveLength(writes);
});

it('the generated permissions policy adds kms:GenerateDataKey and kms:Decrypt on the key, or on the keys an alias names', async () => {
  const policyOf = async (id: string) => JSON.parse((await gql(POLICIES, { id })).data!.getExportConfigurationPolicies.permissionsPolicy);
  const s3Statement = (path: string) => ({ Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: `arn:aws:s3:::your-s3-bucket/${path}/*` });

  const withKey = await create('policy-key', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: KMS_KEY });
  expect(await policyOf(withKey.id)).toEqual({
    Version: '2012-10-17',
    Statement: [s3Statement('policy-key'), { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: KMS_KEY }],
  });

  const withAlias = await create('policy-alias', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: KMS_ALIAS });
  expect(await policyOf(withAlias.id)).toEqual({
    Version: '2012-10-17',
    Statement: [
      s3Statement('policy-alias'),
      {
        Effect: 'Allow',
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: 'arn:aws:kms:us-east-1:111122223333:key/*',
        Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/audit-logs' } },
      },
    ],
  });

  // No customer key: the policy is the one it always was.
  for (const encryption of [{}, { serverSideEncryption: 'AES256' }, { serverSideEncryption: 'AWS_KMS' }]) {
    const path = `policy-${Object.values(encryption).join('-').toLowerCase() || 'none'}`.replace(/_/g, '-');
    const created = await create(path, encryption);
    expect(await policyOf(created.id)).toEqual({ Version: '2012-10-17', Statement: [s3Statement(path)] });
  }
});
