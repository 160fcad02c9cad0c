import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadIamConfig, SandboxConfigError } from '../../sandbox/iam.config';
import { evaluateIdentityPolicies, evaluateTrustPolicy } from '../../sandbox/policy.evaluator';
import { DEFAULT_IAM_FILE, startSandbox } from '../../sandbox/sandbox.server';

describe('sandbox IAM file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sandbox-iam-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('ships a file with the README walkthrough identities', () => {
    const cfg = loadIamConfig(DEFAULT_IAM_FILE);
    expect(cfg.accountId).toBe('111122223333');
    expect(cfg.buckets).toEqual(expect.arrayContaining(['your-s3-bucket', 'audit-exports']));
    expect(cfg.users.map((u) => u.name).sort()).toEqual(['audit-export-service', 'auditor', 'exporter']);
    expect(cfg.roles.map((r) => r.name)).toEqual(['immuta-export']);
    for (const u of cfg.users) {
      expect(u.accessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
      expect(u.secretAccessKey).toHaveLength(40);
      expect(u.secretAccessKey).toContain('SANDBOX');
    }
  });

  it('names the offending field of an invalid file', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ accountId: '111122223333', users: [{ name: 'u', accessKeyId: 'nope', secretAccessKey: 'x'.repeat(40) }] }));
    expect(() => loadIamConfig(file)).toThrow(SandboxConfigError);
    expect(() => loadIamConfig(file)).toThrow(/users\[0\]\.accessKeyId: must be 'AKIA' followed by 16/);
  });

  it('refuses policy elements it cannot evaluate instead of ignoring them', () => {
    const cfg = {
      accountId: '111122223333',
      roles: [
        {
          name: 'r',
          trustPolicy: { Statement: { Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole' } },
          policies: [{ Statement: [{ Effect: 'Allow', NotAction: 's3:*', Resource: '*' }] }],
        },
      ],
    };
    expect(() => loadIamConfig(cfg as never)).toThrow(/roles\[0\]\.policies\[0\]\.Statement\[0\]/);
  });

  it('reports unreadable JSON with the file name, and startSandbox fails fast', async () => {
    const file = path.join(dir, 'broken.json');
    await writeFile(file, '{ "accountId": ');
    await expect(startSandbox({ iam: file })).rejects.toThrow(`Sandbox IAM file ${file} is not valid JSON`);
  });
});

describe('policy evaluation (pure logic)', () => {
  const allowPut = { Statement: [{ Effect: 'Allow' as const, Action: 's3:PutObject', Resource: 'arn:aws:s3:::b/*' }] };

  it('matches actions case-insensitively and resources with * and ?', () => {
    expect(evaluateIdentityPolicies([allowPut], 'S3:putobject', 'arn:aws:s3:::b/x/y')).toBe('allow');
    expect(evaluateIdentityPolicies([allowPut], 's3:PutObject', 'arn:aws:s3:::bb/x')).toBe('implicit-deny');
    const q = { Statement: [{ Effect: 'Allow' as const, Action: 's3:Get?bject', Resource: ['arn:aws:s3:::b/k?'] }] };
    expect(evaluateIdentityPolicies([q], 's3:GetObject', 'arn:aws:s3:::b/k1')).toBe('allow');
    expect(evaluateIdentityPolicies([q], 's3:GetObject', 'arn:aws:s3:::b/k12')).toBe('implicit-deny');
  });

  it('treats a required ExternalId as unmet when absent, and negated operators as met', () => {
    const trust = {
      Statement: [{ Effect: 'Allow' as const, Principal: { AWS: '111122223333' }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:externalid': ['a', 'b'] } } }],
    };
    const caller = { arn: 'arn:aws:iam::111122223333:user/u', accountId: '111122223333' };
    expect(evaluateTrustPolicy(trust, caller, 'sts:AssumeRole', { 'sts:ExternalId': 'b' })).toEqual({ decision: 'allow', delegatedToAccount: true });
    expect(evaluateTrustPolicy(trust, caller, 'sts:AssumeRole', {}).decision).toBe('implicit-deny');
    const other = { arn: 'arn:aws:iam::444455556666:user/u', accountId: '444455556666' };
    expect(evaluateTrustPolicy(trust, other, 'sts:AssumeRole', { 'sts:ExternalId': 'a' }).decision).toBe('implicit-deny');
    const negated = { Statement: [{ Effect: 'Allow' as const, Principal: '*' as const, Action: 'sts:*', Condition: { StringNotEquals: { 'sts:ExternalId': 'x' } } }] };
    expect(evaluateTrustPolicy(negated, caller, 'sts:AssumeRole', {})).toEqual({ decision: 'allow', delegatedToAccount: false });
  });
});

describe('policy conditions (pure logic, AWS semantics)', () => {
  const caller = { arn: 'arn:aws:iam::111122223333:user/u', accountId: '111122223333' };
  const allowIf = (Condition: Record<string, Record<string, unknown>>) => ({
    Statement: [{ Effect: 'Allow' as const, Action: 's3:GetObject', Resource: '*', Condition: Condition as never }],
  });
  const decide = (Condition: Record<string, Record<string, unknown>>, context: Record<string, string | string[] | undefined>) =>
    evaluateIdentityPolicies([allowIf(Condition)], 's3:GetObject', 'arn:aws:s3:::b/k', context);

  it('ANDs operators and keys, ORs the values of one key, and compares case-sensitively unless IgnoreCase', () => {
    const cond = { StringEquals: { 'aws:PrincipalAccount': ['111122223333', '444455556666'], 'aws:PrincipalType': 'User' } };
    expect(decide(cond, { 'aws:PrincipalAccount': '444455556666', 'aws:PrincipalType': 'User' })).toBe('allow');
    expect(decide(cond, { 'aws:PrincipalAccount': '444455556666', 'aws:PrincipalType': 'AssumedRole' })).toBe('implicit-deny');
    expect(decide({ StringEquals: { 'aws:username': 'Alice' } }, { 'aws:username': 'alice' })).toBe('implicit-deny');
    expect(decide({ StringEqualsIgnoreCase: { 'aws:username': 'Alice' } }, { 'aws:username': 'alice' })).toBe('allow');
    expect(decide({ StringNotEqualsIgnoreCase: { 'aws:username': 'Alice' } }, { 'aws:username': 'alice' })).toBe('implicit-deny');
    // Key names are case-insensitive, as in IAM.
    expect(decide({ StringLike: { 'AWS:USERNAME': 'a?i*' } }, { 'aws:username': 'alice' })).toBe('allow');
    expect(decide({ StringNotLike: { 'aws:username': ['x*', 'y*'] } }, { 'aws:username': 'alice' })).toBe('allow');
  });

  it('treats a missing key as false for positive operators, true for negated ones, and true with IfExists', () => {
    expect(decide({ StringEquals: { 'sts:ExternalId': 'x' } }, {})).toBe('implicit-deny');
    expect(decide({ StringNotEquals: { 'sts:ExternalId': 'x' } }, {})).toBe('allow');
    expect(decide({ Bool: { 'aws:SecureTransport': 'true' } }, {})).toBe('implicit-deny');
    expect(decide({ BoolIfExists: { 'aws:SecureTransport': 'true' } }, {})).toBe('allow');
    expect(decide({ BoolIfExists: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': 'false' })).toBe('implicit-deny');
    expect(decide({ StringEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } }, { 's3:x-amz-server-side-encryption': 'AES256' })).toBe('implicit-deny');
    expect(decide({ Null: { 's3:x-amz-server-side-encryption': 'true' } }, {})).toBe('allow');
    expect(decide({ Null: { 's3:x-amz-server-side-encryption': 'false' } }, {})).toBe('implicit-deny');
    expect(decide({ Null: { 's3:x-amz-server-side-encryption': 'false' } }, { 's3:x-amz-server-side-encryption': 'aws:kms' })).toBe('allow');
  });

  it('evaluates Bool from a JSON boolean or string, IP ranges (v4, v6, mapped) and ARNs part by part', () => {
    expect(decide({ Bool: { 'aws:SecureTransport': true } }, { 'aws:SecureTransport': 'true' })).toBe('allow');
    expect(decide({ Bool: { 'aws:SecureTransport': 'false' } }, { 'aws:SecureTransport': 'true' })).toBe('implicit-deny');
    expect(decide({ IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '127.0.0.0/8'] } }, { 'aws:SourceIp': '127.0.0.1' })).toBe('allow');
    expect(decide({ IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } }, { 'aws:SourceIp': '::ffff:127.0.0.1' })).toBe('allow');
    expect(decide({ IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:SourceIp': '2001:db8::1' })).toBe('allow');
    expect(decide({ NotIpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '127.0.0.1' })).toBe('allow');
    expect(decide({ IpAddress: { 'aws:SourceIp': '203.0.113.7' } }, { 'aws:SourceIp': '127.0.0.1' })).toBe('implicit-deny');
    const role = 'arn:aws:iam::111122223333:role/exporter';
    expect(decide({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/export*' } }, { 'aws:PrincipalArn': role })).toBe('allow');
    expect(decide({ ArnEquals: { 'aws:PrincipalArn': role } }, { 'aws:PrincipalArn': role })).toBe('allow');
    // `*` stays inside one ARN part: it cannot swallow the account's colon.
    expect(decide({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam:*:role/exporter' } }, { 'aws:PrincipalArn': role })).toBe('implicit-deny');
    expect(decide({ ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:user/*' } }, { 'aws:PrincipalArn': role })).toBe('allow');
  });

  it('applies ForAnyValue and ForAllValues to multi-valued keys such as aws:PrincipalOrgPaths', () => {
    const keycard = { 'ForAnyValue:StringLike': { 'aws:PrincipalOrgPaths': 'o-c7hznpvsin/r-6n6x/ou-6n6x-bcvsfrlg/ou-6n6x-oox2udyt/*' } };
    expect(decide(keycard, { 'aws:PrincipalOrgPaths': ['o-other/r-1/', 'o-c7hznpvsin/r-6n6x/ou-6n6x-bcvsfrlg/ou-6n6x-oox2udyt/ou-6n6x-team/'] })).toBe('allow');
    expect(decide(keycard, { 'aws:PrincipalOrgPaths': ['o-sandbox/r-root/ou-sandbox/'] })).toBe('implicit-deny');
    expect(decide(keycard, {})).toBe('implicit-deny');
    expect(decide(keycard, { 'aws:PrincipalOrgPaths': [] })).toBe('implicit-deny');
    const all = { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } };
    expect(decide(all, { 'aws:TagKeys': ['a', 'b'] })).toBe('allow');
    expect(decide(all, { 'aws:TagKeys': ['a', 'c'] })).toBe('implicit-deny');
    // ForAllValues holds for an absent or empty set (AWS's documented pitfall).
    expect(decide(all, {})).toBe('allow');
    expect(decide({ 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': 'a' } }, { 'aws:TagKeys': ['a', 'b'] })).toBe('allow');
  });

  it('lets an explicit Deny with a condition beat an Allow', () => {
    const policies = [
      { Statement: [{ Effect: 'Allow' as const, Action: 's3:*', Resource: '*' }] },
      { Statement: [{ Effect: 'Deny' as const, Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }] },
    ];
    expect(evaluateIdentityPolicies(policies, 's3:PutObject', 'arn:aws:s3:::b/k', { 'aws:SecureTransport': 'false' })).toBe('explicit-deny');
    expect(evaluateIdentityPolicies(policies, 's3:PutObject', 'arn:aws:s3:::b/k', { 'aws:SecureTransport': 'true' })).toBe('allow');
  });

  it('refuses at load time an operator it does not evaluate, naming it, and malformed values', () => {
    const withCondition = (Condition: unknown) => ({
      accountId: '111122223333',
      users: [
        {
          name: 'u',
          accessKeyId: 'AKIAAAAAAAAAAAAAAAAA',
          secretAccessKey: 'x'.repeat(40),
          policies: [{ Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition }] }],
        },
      ],
    });
    expect(() => loadIamConfig(withCondition({ NumericLessThan: { 's3:max-keys': '10' } }) as never)).toThrow(/unsupported condition operator 'NumericLessThan'/);
    expect(() => loadIamConfig(withCondition({ 'ForSomeValues:StringLike': { k: 'v' } }) as never)).toThrow(/unsupported condition operator 'ForSomeValues:StringLike'/);
    expect(() => loadIamConfig(withCondition({ NullIfExists: { k: 'true' } }) as never)).toThrow(/unsupported condition operator 'NullIfExists'/);
    expect(() => loadIamConfig(withCondition({ IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } }) as never)).toThrow(/is not an IP address or CIDR block/);
    expect(() => loadIamConfig(withCondition({ Bool: { 'aws:SecureTransport': 'yes' } }) as never)).toThrow(/is not true or false/);
    expect(() => loadIamConfig(withCondition({ StringEquals: { 'aws:username': '${aws:username}' } }) as never)).toThrow(/policy variables/);
    expect(() =>
      loadIamConfig(withCondition({ 'ForAnyValue:StringLike': { 'aws:PrincipalOrgPaths': 'o-x/*' }, BoolIfExists: { 'aws:SecureTransport': false } }) as never),
    ).not.toThrow();
  });

  it('names the account organization path in the shipped IAM file, for aws:PrincipalOrgPaths', () => {
    expect(loadIamConfig(DEFAULT_IAM_FILE).organizationPath).toBe('o-sandbox/r-root/ou-sandbox/');
    expect(
      evaluateTrustPolicy(
        { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole', Condition: { 'ForAnyValue:StringLike': { 'aws:PrincipalOrgPaths': 'o-sandbox/*' } } }] },
        caller,
        'sts:AssumeRole',
        { 'aws:PrincipalOrgPaths': ['o-sandbox/r-root/ou-sandbox/'] },
      ).decision,
    ).toBe('allow');
  });
});
