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

const KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const INVALID_KMS_KEY_ARNS: Array<[string, string]> = [
  ['arn:aws:kms:<region>:<account>:key/<key id>', 'a placeholder'],
  ['1234abcd-12ab-34cd-56ef-1234567890ab', 'a bare key id'],
  ['alias/audit-logs', 'a bare alias name'],
  ['arn:aws:kms:us-east-1:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab', '11-digit account'],
  ['arn:aws:kms:us-east-1:111122223333:key/not-a-key-id', 'not a key id'],
  ['arn:aws:kms:us-east-1:111122223333:key/1234ABCD-12AB-34CD-56EF-1234567890AB', 'uppercase key id'],
  ['arn:aws:kms:us-east-1:111122223333:alias/', 'no alias name'],
  ['arn:aws:s3:::your-s3-bucket', 'not KMS'],
  ['arn:aws:iam::111122223333:role/immuta-export', 'a role'],
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
    const error = await expectRefused(CREATE_ACCESS_KEY, { ...validAccessKey, storageClass: 'GLACIER' }, 'storageClass');
    expect(JSON.stringify(error)).not.toContain(SECRET);
    await expectRefused(CREATE_ASSUMED_ROLE, { ...validAssumedRole, externalId: 'chosen-by-client' }, 'externalId');
  });

  describe('server-side encryption', () => {
    it.each(INVALID_KMS_KEY_ARNS)('refuses kmsKeyArn %j (%s)', async (kmsKeyArn) => {
      await expectRefused(CREATE_ACCESS_KEY, { ...validAccessKey, serverSideEncryption: 'AWS_KMS', kmsKeyArn }, 'kmsKeyArn');
      await expectRefused(CREATE_ASSUMED_ROLE, { ...validAssumedRole, serverSideEncryption: 'AWS_KMS', kmsKeyArn }, 'kmsKeyArn');
    });

    it.each<[Record<string, unknown>, string]>([
      [{ serverSideEncryption: 'AES256', kmsKeyArn: KMS_KEY }, 'a key with AES256'],
      [{ kmsKeyArn: KMS_KEY }, 'a key without serverSideEncryption'],
      [{ serverSideEncryption: null, kmsKeyArn: KMS_KEY }, 'a key with serverSideEncryption null'],
      [{ serverSideEncryption: 'AWS_KMS', kmsKeyArn: KMS_KEY.replace('us-east-1', 'eu-west-1') }, "a key outside the bucket's region"],
    ])('refuses %j (%s), naming data.kmsKeyArn', async (encryption) => {
      const error = await expectRefused(CREATE_ACCESS_KEY, { ...validAccessKey, ...encryption }, 'kmsKeyArn');
      expect(error.message).not.toContain(SECRET);
      await expectRefused(CREATE_ASSUMED_ROLE, { ...validAssumedRole, ...encryption }, 'kmsKeyArn');
    });

    it.each(['aws:kms', 'SSE_KMS', 'aes256'])('refuses serverSideEncryption %j (not one of AES256, AWS_KMS)', async (serverSideEncryption) => {
      await expectRefused(CREATE_ACCESS_KEY, { ...validAccessKey, serverSideEncryption }, 'serverSideEncryption');
    });

    it.each<[string, Record<string, unknown>]>([
      ['us-east-1', { serverSideEncryption: 'AES256' }],
      ['us-east-1', { serverSideEncryption: 'AWS_KMS' }],
      ['us-east-1', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: KMS_KEY }],
      ['us-east-1', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab' }],
      ['us-east-1', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:alias/audit/logs_2026-key' }],
      ['cn-north-1', { serverSideEncryption: 'AWS_KMS', kmsKeyArn: 'arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' }],
      ['us-east-1', { serverSideEncryption: null, kmsKeyArn: null }],
    ])('accepts in %s: %j, and stores it', async (region, encryption) => {
      const { body } = await t.graphql({ query: CREATE_ASSUMED_ROLE, variables: { data: { ...validAssumedRole, region, ...encryption } } }, key);
      expect(body.errors).toBeUndefined();
      const [row] = await t.db.query(`SELECT server_side_encryption::text AS sse, kms_key_arn FROM export_configurations WHERE id = $1`, [
        body.data!.createS3AssumedRoleExportConfiguration.id,
      ]);
      const labels: Record<string, string> = { AES256: 'AES256', AWS_KMS: 'aws:kms' };
      const { serverSideEncryption, kmsKeyArn } = encryption as { serverSideEncryption?: string | null; kmsKeyArn?: string | null };
      expect(row).toEqual({ sse: serverSideEncryption ? labels[serverSideEncryption] : null, kms_key_arn: kmsKeyArn ?? null });
    });

    it('refuses a key without aws:kms in the service too, and the database would as well', async () => {
      await expect(t.app.services.exportConfigurations.createS3AccessKey({ ...validAccessKey, serverSideEncryption: 'AES256', kmsKeyArn: KMS_KEY }, actor)).rejects.toMatchObject({
        code: 'BAD_USER_INPUT',
        details: { field: 'data.kmsKeyArn' },
      });
      const [row] = await t.db.query<{ id: string }>(`SELECT id FROM export_configurations LIMIT 1`);
      await expect(t.db.query(`UPDATE export_configurations SET server_side_encryption = 'AES256', kms_key_arn = $2 WHERE id = $1`, [row.id, KMS_KEY])).rejects.toThrow(
        /export_configurations_kms_key_needs_aws_kms/,
      );
    });
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
