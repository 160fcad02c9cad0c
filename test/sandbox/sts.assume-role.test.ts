import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { awsError, openSandbox, s3Client, stsClient, trustPolicyFor, type Creds } from './sandbox.fixture';

/** The seed's "IAM role" flow: AssumeRole with an external id, then PutObject as the role. */
describe('sandbox STS AssumeRole', () => {
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  const Bucket = 'your-s3-bucket';
  const configId = '259fc41c-b502-418a-a8ff-d875335dbe9b';

  beforeEach(async () => {
    sandbox = await openSandbox();
  });
  afterEach(() => sandbox.close());

  const service = () => stsClient(sandbox, sandbox.user('audit-export-service'));
  const roleArn = () => sandbox.role('immuta-export').arn;
  const assume = (ExternalId?: string, extra: Partial<{ DurationSeconds: number; RoleSessionName: string; RoleArn: string }> = {}) =>
    service().send(new AssumeRoleCommand({ RoleArn: roleArn(), RoleSessionName: 'audit-export', ExternalId, ...extra }));
  const asCreds = (c: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string }): Creds => ({
    accessKeyId: c.AccessKeyId!,
    secretAccessKey: c.SecretAccessKey!,
    sessionToken: c.SessionToken!,
  });
  const deniedMessage = () => `User: ${sandbox.user('audit-export-service').arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn()}`;

  it('follows the seed: denied until the trust policy names the export configuration id, then allowed', async () => {
    // Shipped trust policy still has the "<Export Configuration ID>" placeholder.
    const before = await awsError(assume(configId));
    expect(before).toEqual({ name: 'AccessDenied', status: 403, message: deniedMessage() });

    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    const out = await assume(configId);
    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(out.Credentials?.SessionToken).toBeTruthy();
    expect(out.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${sandbox.accountId}:assumed-role/immuta-export/audit-export`);
    expect(out.AssumedRoleUser?.AssumedRoleId).toMatch(/^AROA[A-Z0-9]+:audit-export$/);
    const lifetime = out.Credentials!.Expiration!.getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(3590_000);
    expect(lifetime).toBeLessThanOrEqual(3600_000);
  });

  it('denies a wrong or missing ExternalId with AWS wording', async () => {
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    expect(await awsError(assume('some-other-id'))).toEqual({ name: 'AccessDenied', status: 403, message: deniedMessage() });
    expect(await awsError(assume(undefined))).toEqual({ name: 'AccessDenied', status: 403, message: deniedMessage() });
  });

  it('denies a role that does not exist with the same message (no existence oracle)', async () => {
    const RoleArn = `arn:aws:iam::${sandbox.accountId}:role/nope`;
    const err = await awsError(assume(configId, { RoleArn }));
    expect(err).toMatchObject({
      name: 'AccessDenied',
      message: `User: ${sandbox.user('audit-export-service').arn} is not authorized to perform: sts:AssumeRole on resource: ${RoleArn}`,
    });
  });

  it('supports StringLike conditions', async () => {
    sandbox.setTrustPolicy('immuta-export', {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: sandbox.user('audit-export-service').arn }, Action: 'sts:AssumeRole', Condition: { StringLike: { 'sts:ExternalId': 'cfg-*' } } },
      ],
    });
    await expect(assume('cfg-42')).resolves.toBeDefined();
    expect((await awsError(assume('other-42'))).name).toBe('AccessDenied');
  });

  it('gives temporary credentials that work for PutObject and identify as the session', async () => {
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    const creds = asCreds((await assume(configId)).Credentials!);
    await s3Client(sandbox, creds).send(new PutObjectCommand({ Bucket, Key: '.immuta.export.log', Body: 'ok' }));
    const who = await stsClient(sandbox, creds).send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe(`arn:aws:sts::${sandbox.accountId}:assumed-role/immuta-export/audit-export`);
    const got = await s3Client(sandbox, sandbox.user('auditor')).send(new GetObjectCommand({ Bucket, Key: '.immuta.export.log' }));
    expect(await got.Body!.transformToString()).toBe('ok');
  });

  it('rejects temporary keys without their session token, and with another token', async () => {
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    const creds = asCreds((await assume(configId)).Credentials!);
    const noToken = await awsError(s3Client(sandbox, { ...creds, sessionToken: undefined }).send(new PutObjectCommand({ Bucket, Key: 'x', Body: 'x' })));
    expect(noToken).toMatchObject({ name: 'InvalidToken', status: 400 });
    const other = asCreds((await assume(configId)).Credentials!);
    const wrongToken = await awsError(s3Client(sandbox, { ...creds, sessionToken: other.sessionToken }).send(new PutObjectCommand({ Bucket, Key: 'x', Body: 'x' })));
    expect(wrongToken).toMatchObject({ name: 'InvalidToken', status: 400 });
  });

  it('expires temporary credentials when the clock passes Expiration', async () => {
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    const creds = asCreds((await assume(configId, { DurationSeconds: 900 })).Credentials!);
    const client = s3Client(sandbox, creds);
    await client.send(new PutObjectCommand({ Bucket, Key: 'before', Body: 'x' }));
    sandbox.advanceClock(899_000);
    await client.send(new PutObjectCommand({ Bucket, Key: 'just-before', Body: 'x' }));
    sandbox.advanceClock(2_000);
    expect(await awsError(client.send(new PutObjectCommand({ Bucket, Key: 'after', Body: 'x' })))).toMatchObject({ name: 'ExpiredToken', status: 400 });
    expect(await awsError(stsClient(sandbox, creds).send(new GetCallerIdentityCommand({})))).toMatchObject({ name: 'ExpiredToken', status: 400 });
  });

  it('denies PutObject when the role has no s3:PutObject permission, with AWS wording', async () => {
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    sandbox.setRolePolicies('immuta-export', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }]);
    const { Credentials, AssumedRoleUser } = await assume(configId);
    const err = await awsError(s3Client(sandbox, asCreds(Credentials!)).send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x' })));
    expect(err).toEqual({
      name: 'AccessDenied',
      status: 403,
      message: `User: ${AssumedRoleUser!.Arn} is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::${Bucket}/k" because no identity-based policy allows the s3:PutObject action`,
    });
  });

  it('lets an explicit Deny win over an Allow (S3 and AssumeRole)', async () => {
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    sandbox.setRolePolicies('immuta-export', [
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${Bucket}/*` }] },
      { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 's3:Put*', Resource: `arn:aws:s3:::${Bucket}/secret/*` }] },
    ]);
    const creds = asCreds((await assume(configId)).Credentials!);
    await s3Client(sandbox, creds).send(new PutObjectCommand({ Bucket, Key: 'open/k', Body: 'x' }));
    const err = await awsError(s3Client(sandbox, creds).send(new PutObjectCommand({ Bucket, Key: 'secret/k', Body: 'x' })));
    expect(err.name).toBe('AccessDenied');
    expect(err.message).toContain('with an explicit deny in an identity-based policy');

    // A Deny statement in the trust policy beats the Allow.
    sandbox.setTrustPolicy('immuta-export', {
      Version: '2012-10-17',
      Statement: [
        ...trustPolicyFor(sandbox.accountId, configId).Statement,
        { Effect: 'Deny', Principal: { AWS: sandbox.user('audit-export-service').arn }, Action: 'sts:AssumeRole' },
      ],
    });
    expect((await awsError(assume(configId))).name).toBe('AccessDenied');
  });

  it('needs the caller to be allowed sts:AssumeRole when the trust policy delegates to the account', async () => {
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    sandbox.setUserPolicies('audit-export-service', []);
    expect((await awsError(assume(configId))).name).toBe('AccessDenied');
  });

  it('validates DurationSeconds and RoleSessionName like STS', async () => {
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, configId));
    expect(await awsError(assume(configId, { DurationSeconds: 899 }))).toMatchObject({ name: 'ValidationError', status: 400 });
    expect(await awsError(assume(configId, { DurationSeconds: 43201 }))).toMatchObject({ name: 'ValidationError', status: 400 });
    // The role's MaxSessionDuration is AWS's default of one hour.
    expect(await awsError(assume(configId, { DurationSeconds: 7200 }))).toMatchObject({ name: 'ValidationError', status: 400 });
    expect(await awsError(assume(configId, { RoleSessionName: 'has space' }))).toMatchObject({ name: 'ValidationError', status: 400 });
    expect(await awsError(assume(configId, { RoleSessionName: 'x' }))).toMatchObject({ name: 'ValidationError', status: 400 });
  });
});
