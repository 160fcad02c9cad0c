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
      roles: [{ name: 'r', trustPolicy: { Statement: { Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole' } }, policies: [{ Statement: [{ Effect: 'Allow', NotAction: 's3:*', Resource: '*' }] }] }],
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
    const trust = { Statement: [{ Effect: 'Allow' as const, Principal: { AWS: '111122223333' }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:externalid': ['a', 'b'] } } }] };
    const caller = { arn: 'arn:aws:iam::111122223333:user/u', accountId: '111122223333' };
    expect(evaluateTrustPolicy(trust, caller, 'sts:AssumeRole', { 'sts:ExternalId': 'b' })).toEqual({ decision: 'allow', delegatedToAccount: true });
    expect(evaluateTrustPolicy(trust, caller, 'sts:AssumeRole', {}).decision).toBe('implicit-deny');
    const other = { arn: 'arn:aws:iam::444455556666:user/u', accountId: '444455556666' };
    expect(evaluateTrustPolicy(trust, other, 'sts:AssumeRole', { 'sts:ExternalId': 'a' }).decision).toBe('implicit-deny');
    const negated = { Statement: [{ Effect: 'Allow' as const, Principal: '*' as const, Action: 'sts:*', Condition: { StringNotEquals: { 'sts:ExternalId': 'x' } } }] };
    expect(evaluateTrustPolicy(negated, caller, 'sts:AssumeRole', {})).toEqual({ decision: 'allow', delegatedToAccount: false });
  });
});
