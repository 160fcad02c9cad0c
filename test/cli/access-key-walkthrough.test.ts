import { openSandbox } from '../sandbox/sandbox.fixture';
import { readObject, startTestApp, type TestApp } from '../http/app.fixture';
import { CliHarness, json } from './cli.fixture';

// Every CLI call is a fresh Node process (through tsx, as `npm run cli` does): about a second
// each, several seconds on a loaded 2-core machine, and these tests make many of them.
jest.setTimeout(120_000);

/**
 * The seed's "How to export using an IAM user with access key" with the CLI, plus the commands
 * around it (get, update, test, disable, enable, delete, policy, unknown ids). The secret access key
 * from the file must never appear in anything the CLI prints.
 */

const REGION = 'us-east-1';
let sandbox: Awaited<ReturnType<typeof openSandbox>>;
let service: TestApp;
let cli: CliHarness;
let secret: string;

beforeAll(async () => {
  sandbox = await openSandbox();
  service = await startTestApp({ sandbox });
  cli = new CliHarness();
  secret = sandbox.user('exporter').secretAccessKey;
  const key = await service.createKey('admin', ['AUDIT']);
  expect((await cli.run(['configure', '--host', service.url, '--api-key', key])).code).toBe(0);
});
afterAll(async () => {
  cli?.cleanup();
  await service?.close();
  await sandbox?.close();
});
afterEach(() => {
  for (const output of cli.transcript) expect(output).not.toContain(secret);
  for (const line of service.logs) expect(line).not.toContain(secret);
});

test('list with nothing configured is an empty list', async () => {
  const result = await cli.run(['audit', 'exportConfig', 'list']);
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout)).toEqual({ data: { getAllExportConfigurations: [] } });
});

test('create:s3:accessKey answers like the seed, writes .immuta.export.log, and the other commands follow', async () => {
  const exporter = sandbox.user('exporter');
  const file = cli.writeFile('exportConfig.json', {
    interval: 'EVERY_12_HOURS',
    bucket: 'your-s3-bucket',
    path: 'your-optional-s3-bucket-path',
    region: REGION,
    accessKeyId: exporter.accessKeyId,
    secretAccessKey: exporter.secretAccessKey,
  });
  const created = json(await cli.run(['audit', 'exportConfig', 'create:s3:accessKey', file]));
  const id: string = created.data.createS3AccessKeyExportConfiguration.id;
  expect(created).toEqual({
    data: {
      createS3AccessKeyExportConfiguration: {
        id: expect.any(String),
        interval: 'EVERY_12_HOURS',
        enabled: true,
        connectionStatus: 'SUCCESS',
        endpointConfiguration: { __typename: 'S3AccessKeyEndpointConfiguration', bucket: 'your-s3-bucket', path: 'your-optional-s3-bucket-path', region: REGION },
      },
    },
  });
  // Step 4 of the guide.
  expect(JSON.parse(await readObject(sandbox, 'your-s3-bucket', 'your-optional-s3-bucket-path/.immuta.export.log')).configurationId).toBe(id);

  const got = json(await cli.run(['exportConfig', 'get', id])).data.getExportConfiguration;
  expect(got).toMatchObject({ id, endpointConfiguration: { accessKeyId: exporter.accessKeyId } });

  // Access keys assume nothing: only the permissions policy.
  const policies = json(await cli.run(['exportConfig', 'policy', id])).data.getExportConfigurationPolicies;
  expect(policies.trustPolicy).toBeNull();
  expect(policies.permissionsPolicy.Statement).toEqual([
    { Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: 'arn:aws:s3:::your-s3-bucket/your-optional-s3-bucket-path/*' },
  ]);

  // update: a new interval and a new path (which re-runs the connection test).
  const update = cli.writeFile('update.json', { id, interval: 'EVERY_2_HOURS', path: '/elsewhere/' });
  const updated = json(await cli.run(['exportConfig', 'update:s3:accessKey', update])).data.updateS3AccessKeyExportConfiguration;
  expect(updated).toMatchObject({ interval: 'EVERY_2_HOURS', endpointConfiguration: { path: 'elsewhere' }, connectionStatus: 'SUCCESS' });

  const test = json(await cli.run(['exportConfig', 'test', id])).data.testExportConfigurationConnection;
  expect(test.connectionStatus).toBe('SUCCESS');

  expect(json(await cli.run(['exportConfig', 'disable', id])).data.disableExportConfiguration.enabled).toBe(false);
  expect(json(await cli.run(['exportConfig', 'enable', id])).data.enableExportConfiguration).toMatchObject({ enabled: true, connectionStatus: 'SUCCESS' });

  // The wrong update command for the type is refused with a readable message.
  const wrongType = cli.writeFile('wrong-type.json', { id, roleArn: sandbox.role('immuta-export').arn });
  const refused = await cli.run(['exportConfig', 'update:s3:assumedRole', wrongType]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('BAD_USER_INPUT');
  expect(refused.stderr).toContain('updateS3AccessKeyExportConfiguration');

  const deleted = json(await cli.run(['exportConfig', 'delete', id])).data.deleteExportConfiguration;
  expect(deleted.id).toBe(id);
  expect(JSON.parse((await cli.run(['exportConfig', 'list'])).stdout)).toEqual({ data: { getAllExportConfigurations: [] } });
  // Delivered files stay where they are.
  expect(await readObject(sandbox, 'your-s3-bucket', 'your-optional-s3-bucket-path/.immuta.export.log')).toContain(id);

  // Unknown ids: NOT_FOUND, exit code 1, on every id command.
  const commands = ['get', 'enable', 'disable', 'delete', 'test', 'policy'];
  const results = await Promise.all(commands.map((command) => cli.run(['exportConfig', command, id])));
  results.forEach((missing, index) => {
    expect({ command: commands[index], code: missing.code }).toEqual({ command: commands[index], code: 1 });
    expect(missing.stderr).toContain(`NOT_FOUND: Export configuration ${id} was not found`);
  });
});
