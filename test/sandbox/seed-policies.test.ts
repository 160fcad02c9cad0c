import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { SandboxIamConfig } from '../../sandbox/sandbox.server';
import { awsError, httpsS3Client, httpsStsClient, openSandbox, s3Client, sessionCreds, stsClient } from './sandbox.fixture';

/**
 * The trust and permission policies printed in the Keycard and Wiv seeds, pasted verbatim; only
 * the placeholders a customer replaces are replaced. They must load into the sandbox and be
 * enforced the way IAM enforces them.
 */

const KEYCARD_TRUST_POLICY = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "AWS": "*"
      },
      "Action": "sts:AssumeRole",
      "Condition": {
        "StringEquals": {
          "sts:ExternalId": "$EXTERNAL_ID"
        },
        "ForAnyValue:StringLike": {
          "aws:PrincipalOrgPaths": "o-c7hznpvsin/r-6n6x/ou-6n6x-bcvsfrlg/ou-6n6x-oox2udyt/*"
        }
      }
    }
  ]
}`;

const KEYCARD_PERMISSIONS_POLICY = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ListBucketForPrefix",
      "Effect": "Allow",
      "Action": ["s3:ListBucket"],
      "Resource": "arn:aws:s3:::$BUCKET_NAME"
    },
    {
      "Sid": "ReadWriteWithTLS",
      "Effect": "Allow",
      "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
      "Resource": "arn:aws:s3:::$BUCKET_NAME/*",
      "Condition": {
        "Bool": {
          "aws:SecureTransport": "true"
        }
      }
    }
  ]
}`;

const WIV_TRUST_POLICY = `{
"Version": "2012-10-17",
"Statement": [
{
"Effect": "Allow",
"Principal": {
"AWS": "arn:aws:iam::613007325984:role/prod-aws-cdk-api-wf-opera-CustomerBucketSyncRole8E8-mUiiPZfuNHcc"
},
"Action": "sts:AssumeRole",
"Condition": {
"StringEquals": {
"sts:ExternalId": "YOUR-EXTERNAL-ID-HERE"
}
}
}
]
}`;

const WIV_PERMISSIONS_POLICY = `{
"Version": "2012-10-17",
"Statement": [
{
"Effect": "Allow",
"Action": [
"s3:PutObject",
"s3:PutObjectAcl"
],
"Resource": "arn:aws:s3:::your-company-audit-logs/*"
}
]
}`;

const EXTERNAL_ID = '681d1539-fd63-4e6e-9426-fccdfdae1862';

/** The service's own identity: a user that may call sts:AssumeRole on any role. */
const serviceUser = (name: string, accessKeyId: string) => ({
  name,
  accessKeyId,
  secretAccessKey: `SANDBOX/${name}/NotASecret/`.padEnd(40, '0'),
  policies: [{ Version: '2012-10-17' as const, Statement: [{ Effect: 'Allow' as const, Action: 'sts:AssumeRole', Resource: 'arn:aws:iam::*:role/*' }] }],
});

describe('Keycard seed: ExternalId, organization path and TLS conditions', () => {
  const Bucket = 'acme-keycard-audit-logs';
  const trust = JSON.parse(KEYCARD_TRUST_POLICY.replace('$EXTERNAL_ID', EXTERNAL_ID));
  const permissions = JSON.parse(KEYCARD_PERMISSIONS_POLICY.replaceAll('$BUCKET_NAME', Bucket));
  const iam = (organizationPath?: string): SandboxIamConfig => ({
    accountId: '111122223333',
    organizationPath,
    buckets: [Bucket],
    users: [serviceUser('keycard-exporter', 'AKIASANDBOXKEYCARD01')],
    roles: [{ name: 'KeycardAuditLogWriter', trustPolicy: trust, policies: [permissions] }],
  });
  // An account under Keycard's OU (what Keycard's production principals report), and one outside it.
  const KEYCARD_ACCOUNT_PATH = 'o-c7hznpvsin/r-6n6x/ou-6n6x-bcvsfrlg/ou-6n6x-oox2udyt/ou-6n6x-exporter1/';

  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  beforeAll(async () => {
    sandbox = await openSandbox({ iam: iam(KEYCARD_ACCOUNT_PATH), httpsPort: 0 });
  });
  afterAll(() => sandbox.close());

  const assume = (s: typeof sandbox, ExternalId: string) =>
    stsClient(s, s.user('keycard-exporter')).send(new AssumeRoleCommand({ RoleArn: s.role('KeycardAuditLogWriter').arn, RoleSessionName: 'keycard', ExternalId }));

  it("lets a principal whose organization path is under Keycard's OU assume the role with the External ID, and no other", async () => {
    expect((await assume(sandbox, EXTERNAL_ID)).Credentials?.AccessKeyId).toMatch(/^ASIA/);
    expect(await awsError(assume(sandbox, 'another-external-id'))).toMatchObject({ name: 'AccessDenied', status: 403 });

    // The shipped sandbox account sits in o-sandbox: ForAnyValue:StringLike finds no matching path.
    const outside = await openSandbox({ iam: iam('o-sandbox/r-root/ou-sandbox/') });
    const noOrg = await openSandbox({ iam: iam(undefined) });
    try {
      expect(await awsError(assume(outside, EXTERNAL_ID))).toMatchObject({ name: 'AccessDenied', status: 403 });
      expect(await awsError(assume(noOrg, EXTERNAL_ID))).toMatchObject({ name: 'AccessDenied', status: 403 });
    } finally {
      await outside.close();
      await noOrg.close();
    }
  });

  it("refuses the role's writes over plain HTTP (aws:SecureTransport false) and allows them over HTTPS", async () => {
    const out = await assume(sandbox, EXTERNAL_ID);
    const creds = sessionCreds(out.Credentials);
    const Key = 'keycard/audit_logs/2026-02-05-14-30-00-1b2e4543-cf21-49c2-9459-bdada803c24b.parquet';
    const plain = s3Client(sandbox, creds);
    expect(await awsError(plain.send(new PutObjectCommand({ Bucket, Key, Body: 'PAR1' })))).toEqual({
      name: 'AccessDenied',
      status: 403,
      message: `User: ${out.AssumedRoleUser!.Arn} is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::${Bucket}/${Key}" because no identity-based policy allows the s3:PutObject action`,
    });
    // ListBucket carries no TLS condition in the seed: it works over either.
    await plain.send(new ListObjectsV2Command({ Bucket, Prefix: 'keycard/' }));

    const tls = httpsS3Client(sandbox, creds);
    await tls.send(new PutObjectCommand({ Bucket, Key, Body: 'PAR1' }));
    const listed = await tls.send(new ListObjectsV2Command({ Bucket, Prefix: 'keycard/audit_logs/' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual([Key]);

    const { UploadId } = await tls.send(new CreateMultipartUploadCommand({ Bucket, Key: 'keycard/mp.parquet' }));
    expect(await awsError(plain.send(new AbortMultipartUploadCommand({ Bucket, Key: 'keycard/mp.parquet', UploadId })))).toMatchObject({ name: 'AccessDenied' });
    await tls.send(new AbortMultipartUploadCommand({ Bucket, Key: 'keycard/mp.parquet', UploadId }));
    plain.destroy();
    tls.destroy();
  });

  it('evaluates the trust policy over HTTPS the same way (STS on the same listener)', async () => {
    const sts = httpsStsClient(sandbox, sandbox.user('keycard-exporter'));
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: sandbox.role('KeycardAuditLogWriter').arn, RoleSessionName: 'tls', ExternalId: EXTERNAL_ID }));
    expect(out.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::111122223333:assumed-role/KeycardAuditLogWriter/tls`);
    sts.destroy();
  });
});

describe('Wiv seed: a trust policy naming one role of the vendor account', () => {
  const VENDOR_ROLE = 'prod-aws-cdk-api-wf-opera-CustomerBucketSyncRole8E8-mUiiPZfuNHcc';
  const Bucket = 'acme-wiv-audit-logs';
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;

  beforeAll(async () => {
    // One sandbox account stands for Wiv's (613007325984, named by the seed) and the customer's.
    sandbox = await openSandbox({
      iam: {
        accountId: '613007325984',
        buckets: [Bucket, 'other-bucket'],
        users: [serviceUser('wiv-service', 'AKIASANDBOXWIVSERV01')],
        roles: [
          {
            name: VENDOR_ROLE,
            trustPolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::613007325984:user/wiv-service' }, Action: 'sts:AssumeRole' }] },
            policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }],
          },
          {
            name: 'wiv-audit-logs-sync',
            trustPolicy: JSON.parse(WIV_TRUST_POLICY.replace('YOUR-EXTERNAL-ID-HERE', EXTERNAL_ID)),
            policies: [JSON.parse(WIV_PERMISSIONS_POLICY.replace('your-company-audit-logs', Bucket))],
          },
        ],
      },
    });
  });
  afterAll(() => sandbox.close());

  it('admits sessions of the named vendor role with the External ID only, whose writes are confined to the bucket', async () => {
    const customerRole = sandbox.role('wiv-audit-logs-sync').arn;
    const service = stsClient(sandbox, sandbox.user('wiv-service'));
    // The vendor's service identity itself is not the principal the trust policy names.
    expect(await awsError(service.send(new AssumeRoleCommand({ RoleArn: customerRole, RoleSessionName: 'direct', ExternalId: EXTERNAL_ID })))).toMatchObject({
      name: 'AccessDenied',
    });

    const vendor = await service.send(new AssumeRoleCommand({ RoleArn: sandbox.role(VENDOR_ROLE).arn, RoleSessionName: 'sync' }));
    const asVendor = stsClient(sandbox, sessionCreds(vendor.Credentials));
    expect(await awsError(asVendor.send(new AssumeRoleCommand({ RoleArn: customerRole, RoleSessionName: 'wiv', ExternalId: 'wrong-external-id' })))).toMatchObject({
      name: 'AccessDenied',
    });
    const customer = await asVendor.send(new AssumeRoleCommand({ RoleArn: customerRole, RoleSessionName: 'wiv', ExternalId: EXTERNAL_ID }));

    const s3 = s3Client(sandbox, sessionCreds(customer.Credentials));
    await s3.send(new PutObjectCommand({ Bucket, Key: '3f7539ad-7f8b-4688-aee0-b9dbf2db728e/org-audit-logs-1769602181000.json.gz', Body: 'gz' }));
    expect(await awsError(s3.send(new PutObjectCommand({ Bucket: 'other-bucket', Key: 'x', Body: 'x' })))).toMatchObject({ name: 'AccessDenied' });
    // The seed grants no s3:ListBucket: the customer lists with their own credentials.
    expect(await awsError(s3.send(new ListObjectsV2Command({ Bucket })))).toMatchObject({ name: 'AccessDenied' });
    s3.destroy();
  });
});
