import { openSandbox } from '../sandbox/sandbox.fixture';
import type { Sandbox } from '../../sandbox/sandbox.server';
import { startTestApp, type TestApp } from './app.fixture';

/**
 * The secret access key is write-only: after every path that handles it (success, AWS failure,
 * invalid input, re-test, listing), it is in no response, no log line, and no database column.
 */
describe('the plaintext secret access key never leaves the request that carried it', () => {
  let sandbox: Sandbox & { close(): Promise<void> };
  let t: TestApp;
  let key: string;
  let secret: string;
  const wrongSecret = 'Leak/Check/Wrong/Secret/000000000000000000';

  beforeAll(async () => {
    sandbox = await openSandbox();
    t = await startTestApp({ sandbox });
    key = await t.createKey('admin', ['AUDIT']);
    secret = sandbox.user('exporter').secretAccessKey;

    const exporter = sandbox.user('exporter');
    const create = `mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) {
      id interval enabled connectionStatus createdBy { id name } updatedBy { id name } createdAt updatedAt
      endpointConfiguration { __typename ... on S3AccessKeyEndpointConfiguration { bucket path region accessKeyId } } } }`;
    const data = { interval: 'EVERY_12_HOURS', bucket: 'your-s3-bucket', path: 'leak-check', region: 'us-east-1', accessKeyId: exporter.accessKeyId };

    const ok = await t.graphql({ query: create, variables: { data: { ...data, secretAccessKey: secret } } }, key);
    expect(ok.body.data!.createS3AccessKeyExportConfiguration.connectionStatus).toBe('SUCCESS');
    const failed = await t.graphql({ query: create, variables: { data: { ...data, secretAccessKey: wrongSecret } } }, key);
    expect(failed.body.data!.createS3AccessKeyExportConfiguration.connectionStatus).toMatch(/^Error testing access to S3 using AccessKey /);

    // Refused input that carries the secret: GraphQL's own errors quote offending values.
    const refused = [
      await t.graphql({ query: create, variables: { data: { ...data, secretAccessKey: secret, unknownField: true } } }, key),
      await t.graphql({ query: create, variables: { data: { ...data, secretAccessKey: secret, interval: 'NEVER' } } }, key),
      await t.graphql({ query: create, variables: { data: { ...data, bucket: 'Bad_Bucket', secretAccessKey: secret } } }, key),
      await t.graphql({ query: create, variables: { data: { ...data, secretAccessKey: `${secret} \n` } } }, key),
      await t.graphql(
        {
          query: `mutation { createS3AccessKeyExportConfiguration(data: { interval: EVERY_2_HOURS, bucket: "your-s3-bucket", region: "us-east-1", accessKeyId: "${exporter.accessKeyId}", secretAccessKey: "${secret}", nope: 1 }) { id } }`,
        },
        key,
      ),
      await t.graphql(
        {
          query: `mutation { createS3AccessKeyExportConfiguration(data: { interval: EVERY_2_HOURS, bucket: "b", region: "x", accessKeyId: "A", secretAccessKey: ${secret.replace(/\W/g, '')} }) { id } }`,
        },
        key,
      ),
      await t.graphql(
        {
          query: `mutation($s: String!) { createS3AccessKeyExportConfiguration(data: { interval: EVERY_2_HOURS, bucket: "your-s3-bucket", region: "us-east-1", accessKeyId: "${exporter.accessKeyId}", secretAccessKey: $s }) { id } }`,
          variables: { s: 12345 },
        },
        key,
      ),
    ];
    for (const response of refused) expect(response.body.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);

    // Reads and a re-test decrypt or touch the stored secret.
    const id = ok.body.data!.createS3AccessKeyExportConfiguration.id as string;
    await t.graphql({ query: `mutation { testExportConfigurationConnection(id: "${id}") { connectionStatus } }` }, key);
    await t.graphql(
      { query: '{ getAllExportConfigurations { id connectionStatus endpointConfiguration { __typename ... on S3AccessKeyEndpointConfiguration { accessKeyId } } } }' },
      key,
    );
    await t.graphql({ query: `{ getExportConfiguration(id: "${id}") { id connectionStatus } }` }, key);
  });
  afterAll(async () => {
    await t?.close();
    await sandbox?.close();
  });

  const variants = () => [secret, wrongSecret, secret.replace(/\W/g, ''), JSON.stringify(secret).slice(1, -1)];

  it('is in no response body', () => {
    expect(t.responses.length).toBeGreaterThanOrEqual(10);
    for (const response of t.responses) for (const value of variants()) expect(response).not.toContain(value);
  });

  it('is in no log line of the run (logged at trace level)', () => {
    expect(t.logs.some((line) => line.includes('export configuration created'))).toBe(true);
    expect(t.logs.some((line) => line.includes('connection test failed'))).toBe(true);
    for (const line of t.logs) for (const value of variants()) expect(line).not.toContain(value);
  });

  it('is in no column of any table, yet the stored ciphertext decrypts to it', async () => {
    const tables = await t.db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    expect(tables.map((table) => table.table_name)).toEqual(expect.arrayContaining(['export_configurations', 'api_keys', 'users']));
    for (const { table_name } of tables) {
      for (const value of variants()) {
        // row::text renders every column of the row, whatever its type.
        const hits = await t.db.query(`SELECT 1 FROM "${table_name}" AS r WHERE strpos(r::text, $1) > 0`, [value]);
        expect({ table_name, hits: hits.length }).toEqual({ table_name, hits: 0 });
      }
    }
    const rows = await t.db.query<{ id: string; secret_ciphertext: string }>(`SELECT id, secret_ciphertext FROM export_configurations ORDER BY created_at`);
    expect(rows).toHaveLength(2);
    expect(t.app.services.secretBox.decrypt(rows[0].secret_ciphertext, rows[0].id)).toBe(secret);
    expect(t.app.services.secretBox.decrypt(rows[1].secret_ciphertext, rows[1].id)).toBe(wrongSecret);
  });
});
