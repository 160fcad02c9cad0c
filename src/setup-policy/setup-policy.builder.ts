/**
 * The IAM policy documents an admin pastes into AWS to let this service deliver to their bucket,
 * generated the way ALTR generates them (seed 002): bucket, path, account and external id are
 * already filled in, so nothing is copied by hand from a guide with angle brackets.
 *
 * Pure functions: no AWS call happens here. The service's own principal comes from STS
 * GetCallerIdentity (see setup-policy.service.ts).
 */

/** An IAM policy document, in the shape AWS's JSON policy editor accepts. */
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Array<Record<string, unknown>>;
}

/**
 * The ARN that a trust policy names as Principal. Immuta's guide uses the account root form
 * (`arn:aws:iam::<account>:root`): it survives a change of the service's IAM user or role inside
 * that account, and the External ID condition is what ties the role to one configuration.
 */
export function accountRootArn(callerArn: string): string {
  // arn:<partition>:<service>:<region>:<account>:<resource>
  const parts = callerArn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn' || !/^\d{12}$/.test(parts[4] ?? '')) {
    throw new Error(`Not an AWS principal ARN: ${callerArn}`);
  }
  return `arn:${parts[1]}:iam::${parts[4]}:root`;
}

/**
 * Trust policy for the customer's role: the service's account may assume it, but only when it
 * presents the configuration id as External ID (the confused-deputy guard AWS recommends for
 * third parties).
 */
export function buildTrustPolicy(principalArn: string, externalId: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: principalArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': externalId } },
      },
    ],
  };
}

/**
 * Permissions policy for the role (or IAM user) on the objects under the configured path:
 * `s3:PutObject`, which covers the connection test, single uploads and every step of a multipart
 * upload; and `s3:AbortMultipartUpload`, so that the parts of a failed multipart upload are
 * deleted at once instead of billed until a lifecycle rule removes them (Keycard's seed asks for
 * the same pair). Nothing is read, listed or deleted. `path` is the stored, normalised form: no
 * leading or trailing '/', null for the bucket root.
 *
 * With a customer KMS key (`kmsKeyArn`), a second statement lets the writer use it, as CloudTrail's
 * and Immuta's guides ask: `kms:GenerateDataKey` for every object S3 encrypts, and `kms:Decrypt`,
 * which S3 calls to complete a multipart upload (it reads back the upload's data key). The key's own
 * key policy must allow this too when the key lives in another account.
 */
export function buildPermissionsPolicy(bucket: string, path: string | null, partition = 'aws', kmsKeyArn: string | null = null): PolicyDocument {
  const prefix = path ? `${path}/` : '';
  const statements: Array<Record<string, unknown>> = [
    {
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
      Resource: `arn:${partition}:s3:::${bucket}/${prefix}*`,
    },
  ];
  if (kmsKeyArn) statements.push(kmsStatement(kmsKeyArn));
  return { Version: '2012-10-17', Statement: statements };
}

/** The actions S3 performs with the writer's permissions on an SSE-KMS key. */
export const KMS_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'];

/**
 * The statement for a key ARN names the key itself. An alias ARN cannot be a key operation's
 * Resource (IAM matches key operations against the key's ARN, never an alias's), so for an alias
 * the statement covers the keys of that account and region that carry the alias, through the
 * `kms:ResourceAliases` condition key.
 */
function kmsStatement(kmsKeyArn: string): Record<string, unknown> {
  // arn:<partition>:kms:<region>:<account>:alias/<name>
  const [arn, partition, service, region, account, resource] = kmsKeyArn.split(':');
  if (resource?.startsWith('alias/')) {
    return {
      Effect: 'Allow',
      Action: KMS_ACTIONS,
      Resource: [arn, partition, service, region, account, 'key/*'].join(':'),
      Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': resource } },
    };
  }
  return { Effect: 'Allow', Action: KMS_ACTIONS, Resource: kmsKeyArn };
}

/** Pretty JSON, ready to paste into the AWS console's JSON editor. */
export function formatPolicy(document: PolicyDocument): string {
  return JSON.stringify(document, null, 2);
}
