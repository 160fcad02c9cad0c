import { startTestApp, type TestApp } from './app.fixture';

/** One document per operation; each would change or reveal something if it ran. */
const OPERATIONS: Array<[string, { query: string; variables?: Record<string, unknown> }]> = [
  ['getAllExportConfigurations', { query: '{ getAllExportConfigurations { id } }' }],
  ['getExportConfiguration', { query: 'query($id: String!) { getExportConfiguration(id: $id) { id } }', variables: { id: '00000000-0000-4000-8000-000000000000' } }],
  [
    'createS3AccessKeyExportConfiguration',
    {
      query: 'mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) { id } }',
      variables: { data: { interval: 'EVERY_2_HOURS', bucket: 'your-s3-bucket', region: 'us-east-1', accessKeyId: 'AKIAAUTHTESTAUTHTEST', secretAccessKey: 'auth-test-secret' } },
    },
  ],
  [
    'createS3AssumedRoleExportConfiguration',
    {
      query: 'mutation($data: S3AssumedRoleExportConfigurationInput!) { createS3AssumedRoleExportConfiguration(data: $data) { id } }',
      variables: { data: { interval: 'EVERY_2_HOURS', bucket: 'your-s3-bucket', region: 'us-east-1', roleArn: 'arn:aws:iam::111122223333:role/immuta-export' } },
    },
  ],
  [
    'testExportConfigurationConnection',
    { query: 'mutation($id: String!) { testExportConfigurationConnection(id: $id) { id } }', variables: { id: '00000000-0000-4000-8000-000000000000' } },
  ],
];

describe('every GraphQL operation requires an API key with AUDIT', () => {
  let t: TestApp;
  let auditKey: string;
  let ingestKey: string;
  let revokedKey: string;

  beforeAll(async () => {
    // No sandbox: nothing may reach AWS. If auth let a create through, it would fail fast here.
    t = await startTestApp({ env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', CONNECTION_TEST_TIMEOUT_MS: '500' } });
    auditKey = await t.createKey('alice', ['AUDIT']);
    ingestKey = await t.createKey('ingest-bot', ['INGEST']);
    revokedKey = await t.createKey('mallory', ['AUDIT', 'INGEST']);
    const [{ id }] = await t.db.query<{ id: string }>(`SELECT k.id FROM api_keys k JOIN users u ON u.id = k.user_id WHERE u.name = 'mallory'`);
    await t.app.services.apiKeys.revoke(id);
  });
  afterAll(async () => {
    await t?.close();
  });

  const cases: Array<[string, () => string | undefined, number, string]> = [
    ['no Authorization header', () => undefined, 401, 'UNAUTHENTICATED'],
    ['an empty Authorization header', () => '', 401, 'UNAUTHENTICATED'],
    ['an unknown key', () => `Bearer iae_${'A'.repeat(43)}`, 401, 'UNAUTHENTICATED'],
    ['a key that is not ours at all', () => 'Basic dXNlcjpwYXNz', 401, 'UNAUTHENTICATED'],
    ['a revoked key', () => `Bearer ${revokedKey}`, 401, 'UNAUTHENTICATED'],
    ['a revoked key, bare', () => revokedKey, 401, 'UNAUTHENTICATED'],
    ['a key without AUDIT', () => `Bearer ${ingestKey}`, 403, 'FORBIDDEN'],
    ['a key without AUDIT, bare', () => ingestKey, 403, 'FORBIDDEN'],
  ];

  describe.each(cases)('with %s', (_name, authorization, status, code) => {
    it.each(OPERATIONS)('%s is refused', async (_operation, body) => {
      const response = await t.graphql(body, authorization());
      expect(response.status).toBe(status);
      expect(response.body.data).toBeUndefined();
      expect(response.body.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code }) })]);
      expect(await t.db.query('SELECT id FROM export_configurations')).toHaveLength(0);
    });
  });

  it('accepts the key as "Bearer <key>" and as the bare key', async () => {
    for (const authorization of [`Bearer ${auditKey}`, `bearer ${auditKey}`, auditKey]) {
      const response = await t.graphql({ query: '{ getAllExportConfigurations { id } }' }, authorization);
      expect(response).toEqual({ status: 200, body: { data: { getAllExportConfigurations: [] } } });
    }
  });

  it("records the key's user as createdBy and updatedBy", async () => {
    const [, create] = OPERATIONS[2];
    const response = await t.graphql({ ...create, query: create.query.replace('{ id }', '{ id createdBy { id name } updatedBy { name } }') }, auditKey);
    const created = response.body.data!.createS3AccessKeyExportConfiguration;
    const [alice] = await t.db.query<{ id: string }>(`SELECT id FROM users WHERE name = 'alice'`);
    expect(created.createdBy).toEqual({ id: alice.id, name: 'alice' });
    expect(created.updatedBy).toEqual({ name: 'alice' });
    const [row] = await t.db.query(`SELECT created_by_id, updated_by_id FROM export_configurations WHERE id = $1`, [created.id]);
    expect(row).toEqual({ created_by_id: alice.id, updated_by_id: alice.id });
  });

  it('a key stops working as soon as it is revoked', async () => {
    const key = await t.createKey('bob', ['AUDIT']);
    expect((await t.graphql({ query: '{ getAllExportConfigurations { id } }' }, key)).status).toBe(200);
    const [{ id }] = await t.db.query<{ id: string }>(`SELECT k.id FROM api_keys k JOIN users u ON u.id = k.user_id WHERE u.name = 'bob'`);
    await t.app.services.apiKeys.revoke(id);
    expect((await t.graphql({ query: '{ getAllExportConfigurations { id } }' }, key)).status).toBe(401);
  });
});
