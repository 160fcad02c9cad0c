import { openSandbox, trustAnyConfigurationId, trustPolicyFor } from '../sandbox/sandbox.fixture';
import type { Sandbox } from '../../sandbox/sandbox.server';
import { readObject, startTestApp, type TestApp } from './app.fixture';
import { SEED_ASSUMED_ROLE_MUTATION, SEED_LIST_QUERY, seedAccessKeyMutation } from '../support/seed-documents';

/**
 * The seed guide's GraphQL documents, pasted verbatim; only the placeholders an admin must replace
 * are replaced (bucket, keys, role; "your-aws-region" is not a region).
 */
const REGION = 'eu-west-1';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function accessKeyMutation(sandbox: Sandbox): string {
  const exporter = sandbox.user('exporter');
  return seedAccessKeyMutation(REGION, exporter);
}

function assumedRoleMutation(roleArn: string): string {
  return SEED_ASSUMED_ROLE_MUTATION.replace('your-region', REGION).replace('arn:aws:iam::<Your AWS Account ID>:role/<the prepared role>', roleArn);
}

describe("the seed guide's GraphQL documents against the sandbox", () => {
  let sandbox: Sandbox & { close(): Promise<void> };
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    sandbox = await openSandbox();
    t = await startTestApp({ sandbox });
    key = await t.createKey('admin', ['AUDIT']);
  });
  afterAll(async () => {
    await t?.close();
    await sandbox?.close();
  });

  it('access key: answers in the seed response shape with SUCCESS and writes .immuta.export.log under the path', async () => {
    const before = Date.now();
    const { status, body } = await t.graphql({ query: accessKeyMutation(sandbox) }, `Bearer ${key}`);

    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    const created = body.data!.createS3AccessKeyExportConfiguration;
    expect(created).toEqual({
      id: expect.stringMatching(UUID_V4),
      interval: 'EVERY_12_HOURS',
      enabled: true,
      connectionStatus: 'SUCCESS',
      endpointConfiguration: { bucket: 'your-s3-bucket', path: 'your-optional-s3-bucket-path', region: REGION },
    });

    const log = JSON.parse(await readObject(sandbox, 'your-s3-bucket', 'your-optional-s3-bucket-path/.immuta.export.log'));
    expect(log).toEqual({ configurationId: created.id, testedAt: expect.any(String), serviceVersion: expect.any(String) });
    expect(Date.parse(log.testedAt)).toBeGreaterThanOrEqual(before - 1000);

    const [row] = await t.db.query(`SELECT connection_status, endpoint_type, access_key_id, secret_ciphertext FROM export_configurations WHERE id = $1`, [created.id]);
    expect(row).toMatchObject({ connection_status: 'SUCCESS', endpoint_type: 'S3_ACCESS_KEY', access_key_id: sandbox.user('exporter').accessKeyId });
    expect(row.secret_ciphertext).toMatch(new RegExp(`^v2\\.${t.app.services.secretBox.currentKeyId}\\.`));
  });

  it("assumed role: first answers with the seed's sts:AssumeRole error, then SUCCESS once the trust policy names the id", async () => {
    const roleArn = sandbox.role('immuta-export').arn;
    const { body } = await t.graphql({ query: assumedRoleMutation(roleArn) }, `Bearer ${key}`);

    expect(body.errors).toBeUndefined();
    const created = body.data!.createS3AssumedRoleExportConfiguration;
    const serviceArn = sandbox.user('audit-export-service').arn;
    expect(created).toEqual({
      id: expect.stringMatching(UUID_V4),
      interval: 'EVERY_12_HOURS',
      enabled: true,
      connectionStatus: `Error testing access to S3 using AssumedRole ${roleArn} - User: ${serviceArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      endpointConfiguration: { bucket: 'your-s3-bucket', path: 'your-optional-s3-bucket-path', region: REGION },
    });

    // The seed's step 4: the trust policy names the configuration id as External ID.
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, created.id));
    // Step 5: test again, then list as the seed does.
    const retest = await t.graphql(
      {
        query: `mutation($id: String!) { testExportConfigurationConnection(id: $id) { id connectionStatus endpointConfiguration { __typename ... on S3AssumedRoleEndpointConfiguration { roleArn externalId } } } }`,
        variables: { id: created.id },
      },
      key,
    );
    expect(retest.body.data!.testExportConfigurationConnection).toEqual({
      id: created.id,
      connectionStatus: 'SUCCESS',
      endpointConfiguration: { __typename: 'S3AssumedRoleEndpointConfiguration', roleArn, externalId: created.id },
    });
    const listed = await t.graphql({ query: SEED_LIST_QUERY }, `Bearer ${key}`);
    expect(listed.body.data!.getAllExportConfigurations).toContainEqual({ id: created.id, connectionStatus: 'SUCCESS' });

    const log = JSON.parse(await readObject(sandbox, 'your-s3-bucket', 'your-optional-s3-bucket-path/.immuta.export.log'));
    expect(log.configurationId).toBe(created.id);
  });

  it('assumed role: answers SUCCESS on create when the trust policy already admits the External ID the service sends', async () => {
    // A trust policy that requires a UUID v4 External ID: it passes only if the service sends the
    // new configuration's id, so SUCCESS here also shows that ExternalId is sent.
    sandbox.setTrustPolicy('immuta-export', trustAnyConfigurationId(sandbox.accountId));
    const { body } = await t.graphql({ query: assumedRoleMutation(sandbox.role('immuta-export').arn) }, key);

    expect(body.errors).toBeUndefined();
    const created = body.data!.createS3AssumedRoleExportConfiguration;
    expect(created).toEqual({
      id: expect.stringMatching(UUID_V4),
      interval: 'EVERY_12_HOURS',
      enabled: true,
      connectionStatus: 'SUCCESS',
      endpointConfiguration: { bucket: 'your-s3-bucket', path: 'your-optional-s3-bucket-path', region: REGION },
    });
    expect(JSON.parse(await readObject(sandbox, 'your-s3-bucket', 'your-optional-s3-bucket-path/.immuta.export.log')).configurationId).toBe(created.id);
  });

  it('writes .immuta.export.log at the bucket root when there is no path, and resolves __typename of the union', async () => {
    const exporter = sandbox.user('exporter');
    const { body } = await t.graphql(
      {
        query: `mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) {
          id createdBy { name } updatedBy { name } createdAt updatedAt
          endpointConfiguration { __typename ... on S3AccessKeyEndpointConfiguration { bucket path region accessKeyId } } } }`,
        variables: {
          data: { interval: 'EVERY_2_HOURS', bucket: 'your-s3-bucket', region: 'us-east-1', accessKeyId: exporter.accessKeyId, secretAccessKey: exporter.secretAccessKey },
        },
      },
      `Bearer ${key}`,
    );
    const created = body.data!.createS3AccessKeyExportConfiguration;
    expect(created).toMatchObject({
      createdBy: { name: 'admin' },
      updatedBy: { name: 'admin' },
      endpointConfiguration: { __typename: 'S3AccessKeyEndpointConfiguration', bucket: 'your-s3-bucket', path: null, region: 'us-east-1', accessKeyId: exporter.accessKeyId },
    });
    expect(Date.parse(created.createdAt)).not.toBeNaN();
    expect(JSON.parse(await readObject(sandbox, 'your-s3-bucket', '.immuta.export.log')).configurationId).toBe(created.id);

    const one = await t.graphql({ query: `query($id: String!) { getExportConfiguration(id: $id) { id } }`, variables: { id: created.id } }, key);
    expect(one.body.data!.getExportConfiguration).toEqual({ id: created.id });
    const none = await t.graphql({ query: `query { getExportConfiguration(id: "00000000-0000-4000-8000-000000000000") { id } }` }, key);
    expect(none.body).toEqual({ data: { getExportConfiguration: null } });
  });
});
