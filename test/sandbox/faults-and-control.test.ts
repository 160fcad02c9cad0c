import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { awsError, openSandbox, s3Client, stsClient, trustPolicyFor } from './sandbox.fixture';

describe('sandbox fault injection and control API', () => {
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  const Bucket = 'your-s3-bucket';

  beforeEach(async () => {
    sandbox = await openSandbox();
  });
  afterEach(() => sandbox.close());

  const control = (method: string, path: string, body?: unknown) =>
    fetch(`${sandbox.endpoint}/_sandbox${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  it('fails exactly every third S3 request at ratio 1/3, and the SDK retries through it', async () => {
    sandbox.setFaults({ s3FailureRatio: 1 / 3, status: 503, code: 'ServiceUnavailable' });
    const client = s3Client(sandbox, sandbox.user('exporter'), 3);
    for (let i = 1; i <= 6; i++) await client.send(new PutObjectCommand({ Bucket, Key: `retry/${i}`, Body: `body ${i}` }));

    const s3 = sandbox.requests.filter((r) => r.service === 's3');
    expect(s3.map((r) => r.status)).toEqual([200, 200, 503, 200, 200, 503, 200, 200]);
    expect(s3.filter((r) => r.status === 503).every((r) => r.errorCode === 'ServiceUnavailable')).toBe(true);

    sandbox.setFaults(null);
    const reader = s3Client(sandbox, sandbox.user('auditor'));
    for (let i = 1; i <= 6; i++) {
      const got = await reader.send(new GetObjectCommand({ Bucket, Key: `retry/${i}` }));
      expect(await got.Body!.transformToString()).toBe(`body ${i}`);
    }
  });

  it('surfaces the injected error when the client does not retry, without storing anything', async () => {
    sandbox.setFaults({ s3FailureRatio: 1 });
    const err = await awsError(s3Client(sandbox, sandbox.user('exporter')).send(new PutObjectCommand({ Bucket, Key: 'never', Body: 'x' })));
    expect(err).toMatchObject({ name: 'SlowDown', status: 503 });
    sandbox.setFaults(null);
    expect((await awsError(s3Client(sandbox, sandbox.user('auditor')).send(new GetObjectCommand({ Bucket, Key: 'never' })))).name).toBe('NoSuchKey');
  });

  it('replaces a trust policy over HTTP (the README walkthrough)', async () => {
    const configId = 'cfg-1234';
    const sts = stsClient(sandbox, sandbox.user('audit-export-service'));
    const assume = () => sts.send(new AssumeRoleCommand({ RoleArn: sandbox.role('immuta-export').arn, RoleSessionName: 'walkthrough', ExternalId: configId }));
    expect((await awsError(assume())).name).toBe('AccessDenied');

    const res = await control('PUT', '/roles/immuta-export/trust-policy', trustPolicyFor(sandbox.accountId, configId));
    expect(res.status).toBe(200);
    expect((await assume()).Credentials?.AccessKeyId).toMatch(/^ASIA/);
  });

  it('rejects an invalid policy over HTTP naming the field, and unknown roles with 404', async () => {
    const bad = await control('PUT', '/roles/immuta-export/trust-policy', { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole', NotResource: '*' }] });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('SANDBOX_CONFIG_INVALID');
    expect(body.error.message).toContain('Statement[0]');
    expect(body.error.message).toContain('NotResource');

    const missing = await control('PUT', '/roles/nope/trust-policy', trustPolicyFor(sandbox.accountId, 'x'));
    expect(missing.status).toBe(404);
  });

  it('creates KMS keys and replaces key policies over HTTP (alias URL-encoded), validating them', async () => {
    const created = await control('POST', '/kms/keys', { alias: 'alias/over-http' });
    expect(created.status).toBe(200);
    const key = (await created.json()) as { keyId: string; arn: string; aliases: string[] };
    expect(key).toEqual({ keyId: expect.stringMatching(/^[0-9a-f-]{36}$/), arn: `arn:aws:kms:us-east-1:${sandbox.accountId}:key/${key.keyId}`, aliases: ['alias/over-http'] });
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: sandbox.user('exporter').arn }, Action: 'kms:GenerateDataKey', Resource: '*' }] };
    expect((await control('PUT', `/kms/keys/${encodeURIComponent('alias/over-http')}/policy`, policy)).status).toBe(200);
    await s3Client(sandbox, sandbox.user('exporter')).send(
      new PutObjectCommand({ Bucket, Key: 'kms', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/over-http' }),
    );

    const invalid = await control('PUT', `/kms/keys/${key.keyId}/policy`, { Statement: [{ Effect: 'Allow', Action: 'kms:*' }] });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { message: string } }).error.message).toContain('key policy statements need a Principal');
    expect((await control('PUT', '/kms/keys/alias%2Fnope/policy', policy)).status).toBe(404);
    expect((await control('POST', '/kms/keys', { alias: 'alias/over-http' })).status).toBe(400);
  });

  it('creates buckets, sets faults, advances the clock and lists requests over HTTP, never returning secrets', async () => {
    expect((await control('PUT', '/buckets/made-over-http')).status).toBe(200);
    sandbox.setUserPolicies('exporter', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::made-over-http/*' }] }]);
    const client = s3Client(sandbox, sandbox.user('exporter'));
    await client.send(new PutObjectCommand({ Bucket: 'made-over-http', Key: 'k', Body: 'x' }));

    expect((await control('PUT', '/faults', { s3FailureRatio: 1, status: 500, code: 'InternalError' })).status).toBe(200);
    expect(await awsError(client.send(new PutObjectCommand({ Bucket: 'made-over-http', Key: 'k2', Body: 'x' })))).toMatchObject({ name: 'InternalError', status: 500 });
    expect((await control('DELETE', '/faults')).status).toBe(200);
    expect((await control('POST', '/clock/advance', { ms: 1000 })).status).toBe(200);

    const res = await control('GET', '/requests');
    const text = await res.text();
    const records = JSON.parse(text) as Array<{ operation: string; bucket?: string; status: number; principalArn?: string }>;
    expect(records.map((r) => [r.operation, r.status])).toEqual([
      ['PutObject', 200],
      ['PutObject', 500],
    ]);
    expect(records[0].principalArn).toBe(sandbox.user('exporter').arn);
    for (const name of ['exporter', 'auditor', 'audit-export-service']) expect(text).not.toContain(sandbox.user(name).secretAccessKey);
  });
});
