import { startTestApp, type TestApp } from '../http/app.fixture';
import type { AuditActor } from '../../src/audit-event/self-audit.port';
import { DomainError } from '../../src/common/errors';

const CREATE_ACCESS_KEY = `mutation($data: S3AccessKeyExportConfigurationInput!) {
  createS3AccessKeyExportConfiguration(data: $data) { id endpointConfiguration { ... on S3AccessKeyEndpointConfiguration { path } } } }`;
const CREATE_ASSUMED_ROLE = `mutation($data: S3AssumedRoleExportConfigurationInput!) {
  createS3AssumedRoleExportConfiguration(data: $data) { id endpointConfiguration { ... on S3AssumedRoleEndpointConfiguration { path } } } }`;

const SECRET = 'Validation/Test/Secret/0000000000000000000';
const validAccessKey = { interval: 'EVERY_12_HOURS', bucket: 'your-s3-bucket', path: 'audit', region: 'us-east-1', accessKeyId: 'AKIAVALIDATIONTEST01', secretAccessKey: SECRET };
const validAssumedRole = { interval: 'EVERY_12_HOURS', bucket: 'your-s3-bucket', path: 'audit', region: 'us-east-1', roleArn: 'arn:aws:iam::111122223333:role/immuta-export' };

/** [field, invalid value, what it breaks] — each must be refused with BAD_USER_INPUT naming the field. */
const INVALID_ACCESS_KEY_INPUT: Array<[string, unknown, string]> = [
  ['bucket', 'ab', 'too short'],
  ['bucket', 'a'.repeat(64), 'too long'],
  ['bucket', 'Your-S3-Bucket', 'uppercase'],
  ['bucket', 'my_bucket', 'underscore'],
  ['bucket', '-bucket', 'starts with a hyphen'],
  ['bucket', 'bucket.', 'ends with a dot'],
  ['bucket', 'my..bucket', 'two adjacent dots'],
  ['bucket', '192.168.5.4', 'IP address'],
  ['bucket', 'xn--bucket', 'xn-- prefix'],
  ['bucket', 'bucket-s3alias', '-s3alias suffix'],
  ['bucket', 'bucket--ol-s3', '--ol-s3 suffix'],
  ['region', 'your-aws-region', 'the seed placeholder'],
  ['region', 'US-EAST-1', 'uppercase'],
  ['region', 'us-east', 'no number'],
  ['region', '', 'empty'],
  ['path', '../escape', '.. segment'],
  ['path', 'a/../b', 'inner .. segment'],
  ['path', 'a\u0000b', 'NUL'],
  ['path', 'a\nb', 'newline inside'],
  ['path', 'x'.repeat(513), 'longer than 512'],
  ['accessKeyId', 'YOURACCESSKEYID', '15 characters'],
  ['accessKeyId', 'akiavalidationtest01', 'lowercase'],
  ['accessKeyId', 'AKIA-VALIDATION-TEST', 'hyphens'],
  ['secretAccessKey', '', 'empty'],
  ['secretAccessKey', 'x'.repeat(257), 'too long'],
  ['secretAccessKey', 'has a space', 'whitespace'],
];

const INVALID_ROLE_ARNS: Array<[string, string]> = [
  ['arn:aws:iam::<Your AWS Account ID>:role/<the prepared role>', 'the seed placeholder'],
  ['arn:aws:iam::11112222333:role/x', '11-digit account'],
  ['arn:aws-foo:iam::111122223333:role/x', 'unknown partition'],
  ['arn:aws:iam::111122223333:user/x', 'a user, not a role'],
  ['arn:aws:iam::111122223333:role/', 'no role name'],
  ['arn:aws:s3:::your-s3-bucket', 'not IAM'],
];

describe('export configuration input validation', () => {
  let t: TestApp;
  let key: string;
  let actor: AuditActor;

  beforeAll(async () => {
    // Valid inputs below are saved with a failing connection test: nothing listens on port 9.
    t = await startTestApp({ env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', CONNECTION_TEST_TIMEOUT_MS: '500' } });
    key = await t.createKey('validator', ['AUDIT']);
    const [user] = await t.db.query<{ id: string }>(`SELECT id FROM users WHERE name = 'validator'`);
    actor = { userId: user.id, userName: 'validator', apiKeyId: '00000000-0000-4000-8000-000000000000' };
  });
  afterAll(async () => {
    await t?.close();
  });

  const rowCount = async () => Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM export_configurations'))[0].n);

  async function expectRefused(query: string, data: Record<string, unknown>, field: string) {
    const before = await rowCount();
    const { status, body } = await t.graphql({ query, variables: { data } }, key);
    const [error] = body.errors ?? [];
    expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
    // Named the same way whether our rules or GraphQL's own type checks refused it.
    expect(error.extensions?.field).toBe(`data.${field}`);
    expect(error.message).toContain(field);
    expect(status === 200 || status === 400).toBe(true);
    expect(body.data ?? null).toBeNull();
    expect(await rowCount()).toBe(before);
    return error;
  }

  it.each(INVALID_ACCESS_KEY_INPUT)('refuses %s = %j (%s)', async (field, value) => {
    const error = await expectRefused(CREATE_ACCESS_KEY, { ...validAccessKey, [field]: value }, field);
    expect(error.message).not.toContain(SECRET);
  });

  it.each(INVALID_ROLE_ARNS)('refuses roleArn %j (%s)', async (roleArn) => {
    await expectRefused(CREATE_ASSUMED_ROLE, { ...validAssumedRole, roleArn }, 'roleArn');
  });

  it.each(['bucket', 'region', 'path'])('refuses an invalid %s for assumed-role configurations too', async (field) => {
    await expectRefused(CREATE_ASSUMED_ROLE, { ...validAssumedRole, [field]: field === 'path' ? 'a/../b' : 'Not Valid' }, field);
  });

  it('refuses an interval outside the enum', async () => {
    await expectRefused(CREATE_ACCESS_KEY, { ...validAccessKey, interval: 'EVERY_3_HOURS' }, 'interval');
    await expectRefused(CREATE_ASSUMED_ROLE, { ...validAssumedRole, interval: 'HOURLY' }, 'interval');
  });

  it('refuses unknown fields sent as variables (the CLI path), without echoing the secret', async () => {
    const error = await expectRefused(CREATE_ACCESS_KEY, { ...validAccessKey, kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/x' }, 'kmsKeyArn');
    expect(JSON.stringify(error)).not.toContain(SECRET);
    await expectRefused(CREATE_ASSUMED_ROLE, { ...validAssumedRole, externalId: 'chosen-by-client' }, 'externalId');
  });

  describe('in a literal document, as in the seed', () => {
    const literal = (fields: string) => `mutation { createS3AccessKeyExportConfiguration(data: { ${fields} }) { id } }`;
    const valid = `bucket: "your-s3-bucket", region: "us-east-1", accessKeyId: "AKIAVALIDATIONTEST01", secretAccessKey: "${SECRET}"`;

    it.each([
      ['interval', `interval: EVERY_3_HOURS, ${valid}`],
      ['interval', `interval: "EVERY_12_HOURS", ${valid}`],
      ['nope', `interval: EVERY_12_HOURS, nope: 1, ${valid}`],
      ['bucket', `interval: EVERY_12_HOURS, region: "us-east-1", accessKeyId: "AKIAVALIDATIONTEST01", secretAccessKey: "x"`],
      ['secretAccessKey', `interval: EVERY_12_HOURS, bucket: "your-s3-bucket", region: "us-east-1", accessKeyId: "AKIAVALIDATIONTEST01", secretAccessKey: 12345`],
      ['bucket', `interval: EVERY_12_HOURS, ${valid.replace('your-s3-bucket', 'Bad_Bucket')}`],
    ])('refuses a bad %s with BAD_USER_INPUT naming it', async (field, fields) => {
      const before = await rowCount();
      const { body } = await t.graphql({ query: literal(fields) }, key);
      expect(body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: `data.${field}` });
      expect(body.errors![0].message).toContain(field);
      expect(JSON.stringify(body)).not.toContain(SECRET);
      expect(JSON.stringify(body)).not.toContain('12345');
      expect(await rowCount()).toBe(before);
    });
  });

  it('refuses a missing required field', async () => {
    const { bucket: _bucket, ...withoutBucket } = validAccessKey;
    await expectRefused(CREATE_ACCESS_KEY, withoutBucket, 'bucket');
  });

  it('refuses unknown fields and bad values in the service too (callers that bypass GraphQL)', async () => {
    const before = await rowCount();
    const refused = async (input: Record<string, unknown>) => {
      try {
        await t.app.services.exportConfigurations.createS3AccessKey(input, actor);
      } catch (error) {
        expect(error).toBeInstanceOf(DomainError);
        return error as DomainError;
      }
      throw new Error('expected the input to be refused');
    };
    expect((await refused({ ...validAccessKey, extra: 1 })).details.field).toBe('data.extra');
    expect((await refused({ ...validAccessKey, interval: 'EVERY_3_HOURS' })).details.field).toBe('data.interval');
    const secretError = await refused({ ...validAccessKey, secretAccessKey: `${SECRET} ` });
    expect(secretError.details.field).toBe('data.secretAccessKey');
    expect(secretError.message).not.toContain(SECRET);
    expect(await rowCount()).toBe(before);
  });

  it.each([
    ['/logs//2024/', 'logs/2024'],
    ['  audit/exports  ', 'audit/exports'],
    ['///', null],
    ['', null],
    [null, null],
  ])('normalises path %j to %j', async (path, expected) => {
    const { body } = await t.graphql({ query: CREATE_ACCESS_KEY, variables: { data: { ...validAccessKey, path } } }, key);
    expect(body.errors).toBeUndefined();
    const created = body.data!.createS3AccessKeyExportConfiguration;
    expect(created.endpointConfiguration.path).toBe(expected);
    const [row] = await t.db.query(`SELECT path FROM export_configurations WHERE id = $1`, [created.id]);
    expect(row.path).toBe(expected);
  });

  it.each(['us-east-1', 'us-gov-west-1', 'cn-north-1', 'ap-southeast-3', 'eu-central-2'])('accepts region %s', async (region) => {
    const { body } = await t.graphql({ query: CREATE_ASSUMED_ROLE, variables: { data: { ...validAssumedRole, region } } }, key);
    expect(body.errors).toBeUndefined();
  });

  it.each(['arn:aws-cn:iam::111122223333:role/x', 'arn:aws-us-gov:iam::111122223333:role/team/audit/export-role', 'arn:aws:iam::111122223333:role/a+b=c,d.e@f-g_h'])(
    'accepts role ARN %s',
    async (roleArn) => {
      const { body } = await t.graphql({ query: CREATE_ASSUMED_ROLE, variables: { data: { ...validAssumedRole, roleArn } } }, key);
      expect(body.errors).toBeUndefined();
    },
  );

  it('refuses a malformed id with BAD_USER_INPUT naming it', async () => {
    const { body } = await t.graphql({ query: '{ getExportConfiguration(id: "not-a-uuid") { id } }' }, key);
    expect(body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });
});
