import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { openSandbox, trustAnyConfigurationId, trustPolicyFor } from '../sandbox/sandbox.fixture';
import { DEFAULT_IAM_FILE, type Sandbox, type SandboxIamConfig } from '../../sandbox/sandbox.server';
import { startTestApp, type TestApp } from './app.fixture';

const CREATE_ACCESS_KEY = `mutation($data: S3AccessKeyExportConfigurationInput!) {
  createS3AccessKeyExportConfiguration(data: $data) { id connectionStatus } }`;
const CREATE_ASSUMED_ROLE = `mutation($data: S3AssumedRoleExportConfigurationInput!) {
  createS3AssumedRoleExportConfiguration(data: $data) { id connectionStatus } }`;
const TIMEOUT_MS = 5000;

/**
 * The default sandbox IAM plus a role that may be assumed but has no s3:PutObject, and a user who
 * may write into any bucket (so a missing bucket shows as NoSuchBucket, not as AccessDenied).
 */
function extendedIam(): SandboxIamConfig {
  const iam = JSON.parse(readFileSync(DEFAULT_IAM_FILE, 'utf8')) as SandboxIamConfig;
  const roles = iam.roles ?? [];
  const [role] = roles;
  const writeAnywhere = { Version: '2012-10-17' as const, Statement: [{ Effect: 'Allow' as const, Action: ['s3:PutObject'], Resource: 'arn:aws:s3:::*' }] };
  return {
    ...iam,
    users: [
      ...(iam.users ?? []),
      { name: 'any-bucket-writer', accessKeyId: 'AKIASANDBOXANYWRITER', secretAccessKey: 'SANDBOX/any-bucket-writer/NotASecret/000', policies: [writeAnywhere] },
    ],
    roles: [...roles, { ...role, name: 'no-put-object', policies: [] }],
  };
}

describe('a failing connection test still saves the configuration, with the AWS error as connectionStatus', () => {
  let sandbox: Sandbox & { close(): Promise<void> };
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    sandbox = await openSandbox({ iam: extendedIam() });
    t = await startTestApp({ sandbox, env: { CONNECTION_TEST_TIMEOUT_MS: String(TIMEOUT_MS) } });
    key = await t.createKey('admin', ['AUDIT']);
  });
  afterAll(async () => {
    await t?.close();
    await sandbox?.close();
  });

  async function create(query: string, data: Record<string, unknown>) {
    const started = Date.now();
    const { status, body } = await t.graphql({ query, variables: { data } }, key);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    const created = (body.data!.createS3AccessKeyExportConfiguration ?? body.data!.createS3AssumedRoleExportConfiguration) as { id: string; connectionStatus: string };
    const [row] = await t.db.query<{ connection_status: string }>(`SELECT connection_status FROM export_configurations WHERE id = $1`, [created.id]);
    expect(row.connection_status).toBe(created.connectionStatus);
    return { ...created, elapsedMs: Date.now() - started };
  }

  const base = { interval: 'EVERY_24_HOURS', bucket: 'your-s3-bucket', path: 'exports', region: 'us-east-1' };

  it('wrong secret: SignatureDoesNotMatch', async () => {
    const exporter = sandbox.user('exporter');
    const created = await create(CREATE_ACCESS_KEY, { ...base, accessKeyId: exporter.accessKeyId, secretAccessKey: 'WrongSecretWrongSecretWrongSecret0000000' });
    expect(created.connectionStatus).toBe(
      `Error testing access to S3 using AccessKey ${exporter.accessKeyId} - The request signature we calculated does not match the signature you provided. Check your key and signing method.`,
    );
    expect(created.elapsedMs).toBeLessThan(TIMEOUT_MS);
  });

  it('unknown bucket: NoSuchBucket', async () => {
    const exporter = sandbox.user('any-bucket-writer');
    const created = await create(CREATE_ACCESS_KEY, { ...base, bucket: 'no-such-bucket', accessKeyId: exporter.accessKeyId, secretAccessKey: exporter.secretAccessKey });
    expect(created.connectionStatus).toMatch(new RegExp(`^Error testing access to S3 using AccessKey ${exporter.accessKeyId} - .*bucket does not exist`));
    expect(created.elapsedMs).toBeLessThan(TIMEOUT_MS);
  });

  it('role whose trust policy names another External ID: the seed text naming sts:AssumeRole', async () => {
    const roleArn = sandbox.role('immuta-export').arn;
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, '11111111-1111-4111-8111-111111111111'));
    const created = await create(CREATE_ASSUMED_ROLE, { ...base, roleArn });
    expect(created.connectionStatus).toBe(
      `Error testing access to S3 using AssumedRole ${roleArn} - User: ${sandbox.user('audit-export-service').arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    );
    expect(created.elapsedMs).toBeLessThan(TIMEOUT_MS);
  });

  it('role without s3:PutObject: AccessDenied from S3 with the temporary credentials', async () => {
    const roleArn = sandbox.role('no-put-object').arn;
    sandbox.setTrustPolicy('no-put-object', trustAnyConfigurationId(sandbox.accountId));
    const created = await create(CREATE_ASSUMED_ROLE, { ...base, roleArn });
    expect(created.connectionStatus).toMatch(
      new RegExp(`^Error testing access to S3 using AssumedRole ${roleArn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} - .*(not authorized|Access Denied)`),
    );
    expect(created.connectionStatus).toContain('s3:PutObject');
    expect(created.elapsedMs).toBeLessThan(TIMEOUT_MS);
  });

  it('the saved configurations are all listed', async () => {
    const { body } = await t.graphql({ query: '{ getAllExportConfigurations { id connectionStatus } }' }, key);
    expect(body.data!.getAllExportConfigurations).toHaveLength(4);
    expect(body.data!.getAllExportConfigurations.every((c: { connectionStatus: string }) => c.connectionStatus.startsWith('Error testing access to S3 using '))).toBe(true);
  });
});

describe('an endpoint that never answers', () => {
  const TEST_TIMEOUT_MS = 700;
  let blackHole: Server;
  const sockets = new Set<Socket>();
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    // Accepts connections, reads requests, never answers.
    blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.resume();
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as { port: number };
    t = await startTestApp({
      env: {
        AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
        AWS_ACCESS_KEY_ID: 'AKIAHUNGENDPOINTTEST',
        AWS_SECRET_ACCESS_KEY: 'hung-endpoint-service-secret',
        CONNECTION_TEST_TIMEOUT_MS: String(TEST_TIMEOUT_MS),
      },
    });
    key = await t.createKey('admin', ['AUDIT']);
  });
  afterAll(async () => {
    await t?.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => blackHole?.close(resolve));
  });

  it.each([
    ['access key (S3 hangs)', CREATE_ACCESS_KEY, { accessKeyId: 'AKIAHUNGENDPOINT0001', secretAccessKey: 'hung-endpoint-customer-secret' }, 'AccessKey AKIAHUNGENDPOINT0001'],
    ['assumed role (STS hangs)', CREATE_ASSUMED_ROLE, { roleArn: 'arn:aws:iam::111122223333:role/immuta-export' }, 'AssumedRole arn:aws:iam::111122223333:role/immuta-export'],
  ])('%s: saved with a status that says it timed out, within the timeout', async (_name, query, auth, described) => {
    const started = Date.now();
    const { body } = await t.graphql({ query, variables: { data: { interval: 'EVERY_6_HOURS', bucket: 'your-s3-bucket', region: 'us-east-1', ...auth } } }, key);
    const elapsed = Date.now() - started;

    const created = (body.data!.createS3AccessKeyExportConfiguration ?? body.data!.createS3AssumedRoleExportConfiguration) as { id: string; connectionStatus: string };
    expect(created.connectionStatus).toBe(`Error testing access to S3 using ${described} - Connection test timed out after ${TEST_TIMEOUT_MS} ms`);
    expect(elapsed).toBeGreaterThanOrEqual(TEST_TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(TEST_TIMEOUT_MS + 2000);
    expect(await t.db.query(`SELECT id FROM export_configurations WHERE id = $1`, [created.id])).toHaveLength(1);
  });
});
