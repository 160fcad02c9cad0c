import { createHash, randomUUID } from 'node:crypto';
import { type KmsKeyConfig, kmsKeyConfigSchema, parseOrThrow, SandboxConfigError } from './iam.config';
import type { Caller, IamStore } from './iam.store';
import { type ConditionContext, evaluatePolicySets, evaluateResourcePolicy } from './policy.evaluator';
import { keyPolicySchema, type PolicyDocument } from './policy.schema';
import { AwsError } from './sandbox.errors';

/**
 * The KMS keys S3 encrypts with, and KMS's authorisation of their use
 * (https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html): the key policy
 * must allow the caller itself, or delegate to the account (`arn:aws:iam::<account>:root`), in
 * which case an identity policy of the caller must allow it too; an explicit Deny in either wins.
 * Only the authorisation is emulated: objects are not really encrypted.
 *
 * The account's AWS managed key `aws/s3`, which S3 uses when asked for aws:kms without a key,
 * exists from the start with the key policy AWS gives it: any principal of the account, through
 * S3 only.
 */

export interface KmsKey {
  keyId: string;
  arn: string;
  aliases: string[];
  policy: PolicyDocument;
  awsManaged: boolean;
}

/** AWS's default key policy (what `aws kms create-key` gives a key without --policy). */
export function defaultKeyPolicy(accountId: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' }],
  };
}

/** The key policy of the AWS managed key aws/s3, as AWS writes it. */
function awsS3KeyPolicy(accountId: string, region: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Id: 'auto-s3-2',
    Statement: [
      {
        Sid: 'Allow access through S3 for all principals in the account that are authorized to use S3',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
        Resource: '*',
        Condition: { StringEquals: { 'kms:CallerAccount': accountId, 'kms:ViaService': `s3.${region}.amazonaws.com` } },
      },
      {
        Sid: 'Allow direct access to key metadata to the account',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: ['kms:Describe*', 'kms:Get*', 'kms:List*'],
        Resource: '*',
      },
    ],
  };
}

/** A UUID derived from `seed`, so the managed key keeps its id across restarts. */
function stableUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const notFound = (message: string) => new AwsError('KMS.NotFoundException', 400, message);

export class KmsStore {
  private readonly keys = new Map<string, KmsKey>();

  constructor(
    private readonly iam: IamStore,
    readonly region: string,
    configured: readonly KmsKeyConfig[],
  ) {
    const managed = stableUuid(`${iam.accountId}:${region}:aws/s3`);
    this.add({ keyId: managed, arn: this.keyArn(managed), aliases: ['alias/aws/s3'], policy: awsS3KeyPolicy(iam.accountId, region), awsManaged: true });
    for (const key of configured) this.createKey(key);
  }

  private keyArn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.iam.accountId}:key/${keyId}`;
  }

  private add(key: KmsKey): void {
    for (const alias of key.aliases) {
      if (this.findAlias(alias)) throw new SandboxConfigError(`KMS alias ${alias} already exists`);
    }
    if (this.keys.has(key.keyId)) throw new SandboxConfigError(`KMS key ${key.keyId} already exists`);
    this.keys.set(key.keyId, key);
  }

  private findAlias(alias: string): KmsKey | undefined {
    for (const key of this.keys.values()) if (key.aliases.includes(alias)) return key;
    return undefined;
  }

  /** Creates a customer managed key (the IAM file's kmsKeys, or the control API). */
  createKey(config: Partial<KmsKeyConfig> | unknown = {}): KmsKey {
    const input = config !== null && typeof config === 'object' ? { id: randomUUID(), ...config } : config;
    const parsed = parseOrThrow(kmsKeyConfigSchema, input, 'KMS key');
    const key: KmsKey = {
      keyId: parsed.id,
      arn: this.keyArn(parsed.id),
      aliases: parsed.alias ? [parsed.alias.startsWith('alias/') ? parsed.alias : `alias/${parsed.alias}`] : [],
      policy: parsed.keyPolicy ?? defaultKeyPolicy(this.iam.accountId),
      awsManaged: false,
    };
    this.add(key);
    return key;
  }

  /** PutKeyPolicy. AWS managed keys' policies cannot be changed, as in AWS. */
  setKeyPolicy(keyIdOrAlias: string, policy: unknown): void {
    const key = this.lookup(keyIdOrAlias);
    if (!key) throw new SandboxConfigError(`No KMS key '${keyIdOrAlias}' in the sandbox`, 'NOT_FOUND');
    if (key.awsManaged) throw new SandboxConfigError(`The key policy of the AWS managed key ${keyIdOrAlias} cannot be changed`);
    key.policy = parseOrThrow(keyPolicySchema, policy, `key policy for ${keyIdOrAlias}`);
  }

  /** A key by id, key ARN, alias (`alias/name`) or alias ARN; undefined when there is none. */
  lookup(reference: string): KmsKey | undefined {
    const prefix = `arn:aws:kms:${this.region}:${this.iam.accountId}:`;
    const local = reference.startsWith(prefix) ? reference.slice(prefix.length) : reference;
    if (local.startsWith('alias/')) return this.findAlias(local);
    return this.keys.get(local.startsWith('key/') ? local.slice(4) : local);
  }

  /**
   * Resolves the key S3 was asked to use, or throws S3's `KMS.NotFoundException` with KMS's
   * wording (a key in another account or region is not found either: S3 uses keys of the bucket's
   * region, and the sandbox has one account).
   */
  resolve(reference: string): KmsKey {
    const key = this.lookup(reference);
    if (key) return key;
    if (/^(arn:aws:kms:[^:]+:\d{12}:)?alias\//.test(reference)) {
      const aliasArn = reference.startsWith('arn:') ? reference : `arn:aws:kms:${this.region}:${this.iam.accountId}:${reference}`;
      throw notFound(`Alias ${aliasArn} is not found.`);
    }
    const keyId = /^(?:arn:aws:kms:[^:]+:\d{12}:key\/)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/.exec(reference);
    if (!keyId) throw notFound(`Invalid keyId ${reference}`);
    throw notFound(`Key '${reference.startsWith('arn:') ? reference : this.keyArn(keyId[1])}' does not exist`);
  }

  managedS3Key(): KmsKey {
    return this.lookup('alias/aws/s3')!;
  }

  /**
   * Throws S3's 403 AccessDenied, with the KMS text naming the action and key, unless `caller` may
   * perform `action` (kms:GenerateDataKey, kms:Decrypt) on `key`. `context`: the request's
   * condition keys; kms:CallerAccount and kms:ViaService are added as when S3 calls KMS.
   */
  authorize(caller: Caller, principalArn: string, key: KmsKey, action: string, context: ConditionContext): void {
    const conditions: ConditionContext = { ...context, 'kms:CallerAccount': this.iam.accountId, 'kms:ViaService': `s3.${this.region}.amazonaws.com` };
    const resource = evaluateResourcePolicy(key.policy, this.iam.principalRef(caller), action, conditions, key.arn);
    const identity = evaluatePolicySets(this.iam.policySets(caller), action, key.arn, conditions);
    const denied = (reason: string) => new AwsError('AccessDenied', 403, `User: ${principalArn} is not authorized to perform: ${action} on resource: ${key.arn} ${reason}`);
    if (resource.decision === 'explicit-deny') throw denied('with an explicit deny in a resource-based policy');
    if (identity === 'explicit-deny') throw denied('with an explicit deny in an identity-based policy');
    if (resource.decision !== 'allow') throw denied(`because no resource-based policy allows the ${action} action`);
    // A key policy that names the caller grants by itself; one that names only the account
    // leaves the decision to the caller's identity policies.
    if (resource.delegatedToAccount && identity !== 'allow') throw denied(`because no identity-based policy allows the ${action} action`);
  }
}
