import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteBucketEncryptionCommand,
  GetBucketEncryptionCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { PolicyDocument } from '../../sandbox/sandbox.server';
import { awsError, httpsS3Client, openSandbox, patternBytes, s3Client, sessionCreds, stsClient } from './sandbox.fixture';

/** SSE-KMS through the SDK: S3 asks KMS on the caller's behalf, with KMS's own authorisation. */
describe('sandbox SSE-KMS and bucket default encryption', () => {
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  let exporter: S3Client;
  const Bucket = 'your-s3-bucket';
  const ACCOUNT = '111122223333';
  const putOnly = {
    Version: '2012-10-17' as const,
    Statement: [
      { Effect: 'Allow' as const, Action: ['s3:PutObject', 's3:GetObject', 's3:ListBucket'], Resource: ['arn:aws:s3:::your-s3-bucket', 'arn:aws:s3:::your-s3-bucket/*'] },
    ],
  };
  const withKms = (actions: string[], Resource: string): PolicyDocument[] => [putOnly, { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource }] }];

  beforeAll(async () => {
    sandbox = await openSandbox({ httpsPort: 0 });
    exporter = s3Client(sandbox, sandbox.user('exporter'));
  });
  beforeEach(() => sandbox.setUserPolicies('exporter', [putOnly]));
  afterAll(async () => {
    exporter.destroy();
    await sandbox.close();
  });

  const denied = (action: string, keyArn: string, reason: string) => ({
    name: 'AccessDenied',
    status: 403,
    message: `User: ${sandbox.user('exporter').arn} is not authorized to perform: ${action} on resource: ${keyArn} ${reason}`,
  });

  it('refuses aws:kms with a key the caller may not use, naming kms:GenerateDataKey, and accepts it once the identity policy allows', async () => {
    // The shipped key has AWS's default key policy: it leaves the decision to the account's IAM policies.
    const key = sandbox.kmsKey('alias/audit-exports');
    const put = (Key: string) => exporter.send(new PutObjectCommand({ Bucket, Key, Body: 'secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/audit-exports' }));
    expect(await awsError(put('kms/denied'))).toEqual(denied('kms:GenerateDataKey', key.arn, 'because no identity-based policy allows the kms:GenerateDataKey action'));
    expect((await awsError(exporter.send(new HeadObjectCommand({ Bucket, Key: 'kms/denied' })))).status).toBe(404);

    sandbox.setUserPolicies('exporter', withKms(['kms:GenerateDataKey'], key.arn));
    const written = await put('kms/allowed');
    expect(written).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn });
    // S3 documents SSE-KMS ETags as not the MD5 of the data.
    expect(written.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(written.ETag).not.toBe('"5ebe2294ecd0e0f08eab7690d2a6ee69"');
    const head = await exporter.send(new HeadObjectCommand({ Bucket, Key: 'kms/allowed' }));
    expect(head).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn });

    // Reading the bytes needs kms:Decrypt as well; the metadata (HEAD, above) does not.
    expect(await awsError(exporter.send(new GetObjectCommand({ Bucket, Key: 'kms/allowed' })))).toEqual(
      denied('kms:Decrypt', key.arn, 'because no identity-based policy allows the kms:Decrypt action'),
    );
    sandbox.setUserPolicies('exporter', withKms(['kms:GenerateDataKey', 'kms:Decrypt'], key.arn));
    expect(await (await exporter.send(new GetObjectCommand({ Bucket, Key: 'kms/allowed' }))).Body!.transformToString()).toBe('secret');
  });

  it('refuses through the key policy when it neither names the caller nor delegates to the account, until it names the caller', async () => {
    const key = sandbox.createKey({
      alias: 'alias/closed',
      keyPolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/auditor` }, Action: 'kms:*', Resource: '*' }] },
    });
    sandbox.setUserPolicies('exporter', withKms(['kms:*'], '*'));
    const put = () => exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/closed', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.keyId }));
    expect(await awsError(put())).toEqual(denied('kms:GenerateDataKey', key.arn, 'because no resource-based policy allows the kms:GenerateDataKey action'));

    // Naming the caller in the key policy is enough on its own (no identity policy needed).
    sandbox.setUserPolicies('exporter', [putOnly]);
    sandbox.setKeyPolicy('alias/closed', {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'AllowExporterToEncrypt', Effect: 'Allow', Principal: { AWS: sandbox.user('exporter').arn }, Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: '*' },
      ],
    });
    expect(await put()).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn });

    // An explicit Deny in the key policy wins over that.
    sandbox.setKeyPolicy(key.arn, {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: sandbox.user('exporter').arn }, Action: 'kms:*', Resource: '*' },
        { Effect: 'Deny', Principal: '*', Action: 'kms:GenerateDataKey', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalType': 'User' } } },
      ],
    });
    expect(await awsError(put())).toEqual(denied('kms:GenerateDataKey', key.arn, 'with an explicit deny in a resource-based policy'));
  });

  it('accepts a key by id, key ARN, alias or alias ARN, and answers KMS.NotFoundException for unknown ones', async () => {
    const key = sandbox.createKey({ alias: 'alias/by-name' });
    sandbox.setUserPolicies('exporter', withKms(['kms:GenerateDataKey'], key.arn));
    for (const SSEKMSKeyId of [key.keyId, key.arn, 'alias/by-name', `arn:aws:kms:us-east-1:${ACCOUNT}:alias/by-name`]) {
      expect((await exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/ref', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId }))).SSEKMSKeyId).toBe(key.arn);
    }
    const put = (SSEKMSKeyId: string) => exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/unknown', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId }));
    const missing = '0b5e1e0f-1c2d-4e3f-8a9b-0c1d2e3f4a5b';
    expect(await awsError(put(missing))).toEqual({ name: 'KMS.NotFoundException', status: 400, message: `Key 'arn:aws:kms:us-east-1:${ACCOUNT}:key/${missing}' does not exist` });
    expect(await awsError(put('alias/nope'))).toEqual({ name: 'KMS.NotFoundException', status: 400, message: `Alias arn:aws:kms:us-east-1:${ACCOUNT}:alias/nope is not found.` });
    expect(await awsError(put('aws/s3'))).toEqual({ name: 'KMS.NotFoundException', status: 400, message: 'Invalid keyId aws/s3' });
    expect(await awsError(exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/x', Body: 'x', SSEKMSKeyId: key.keyId })))).toMatchObject({
      name: 'InvalidArgument',
      message: 'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms',
    });
  });

  it('uses the AWS managed key aws/s3 for aws:kms without a key: any principal of the account may, through S3', async () => {
    const written = await exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/managed', Body: 'x', ServerSideEncryption: 'aws:kms' }));
    expect(written).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: sandbox.kmsKey('alias/aws/s3').arn });
    expect(() => sandbox.setKeyPolicy('alias/aws/s3', { Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*' }] })).toThrow(/AWS managed key/);
  });

  it('refuses parts of an SSE-KMS multipart upload without kms:Decrypt, and completes once allowed', async () => {
    const key = sandbox.createKey({ alias: 'alias/multipart' });
    const Key = 'kms/multipart.bin';
    sandbox.setUserPolicies('exporter', withKms(['kms:GenerateDataKey'], key.arn));
    const { UploadId, ServerSideEncryption, SSEKMSKeyId } = await exporter.send(
      new CreateMultipartUploadCommand({ Bucket, Key, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.keyId }),
    );
    expect({ ServerSideEncryption, SSEKMSKeyId }).toEqual({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn });
    const part = patternBytes(5 * 1024 * 1024, 3);
    const upload = (PartNumber: number, Body: Buffer) => exporter.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body }));
    expect(await awsError(upload(1, part))).toEqual(denied('kms:Decrypt', key.arn, 'because no identity-based policy allows the kms:Decrypt action'));

    sandbox.setUserPolicies('exporter', withKms(['kms:GenerateDataKey', 'kms:Decrypt'], key.arn));
    const parts = [];
    for (const [index, Body] of [part, part.subarray(0, 10)].entries()) {
      const out = await upload(index + 1, Body);
      expect(out.SSEKMSKeyId).toBe(key.arn);
      parts.push({ PartNumber: index + 1, ETag: out.ETag });
    }
    const done = await exporter.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
    expect(done).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn });
    expect(done.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
  });

  it('applies bucket default encryption (PutBucketEncryption) to a plain PutObject, and DeleteBucketEncryption restores SSE-S3', async () => {
    const admin = s3Client(sandbox, sandbox.user('auditor'));
    sandbox.setUserPolicies('auditor', [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:*', 'kms:*'], Resource: '*' }] }]);
    expect((await admin.send(new GetBucketEncryptionCommand({ Bucket }))).ServerSideEncryptionConfiguration?.Rules).toEqual([
      { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false },
    ]);
    const key = sandbox.createKey({ alias: 'alias/bucket-default' });
    const rule = { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' as const, KMSMasterKeyID: key.arn }, BucketKeyEnabled: true };
    await admin.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [rule] } }));
    expect((await admin.send(new GetBucketEncryptionCommand({ Bucket }))).ServerSideEncryptionConfiguration?.Rules).toEqual([rule]);

    // The writer sends no SSE header; the bucket's key applies, and with it KMS's permission check.
    expect(await awsError(exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/default', Body: 'x' })))).toEqual(
      denied('kms:GenerateDataKey', key.arn, 'because no identity-based policy allows the kms:GenerateDataKey action'),
    );
    sandbox.setUserPolicies('exporter', withKms(['kms:GenerateDataKey'], key.arn));
    await exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/default', Body: 'x' }));
    expect(await admin.send(new HeadObjectCommand({ Bucket, Key: 'kms/default' }))).toMatchObject({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: key.arn,
      BucketKeyEnabled: true,
    });

    await admin.send(new DeleteBucketEncryptionCommand({ Bucket }));
    await exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/after-delete', Body: 'x' }));
    expect((await admin.send(new HeadObjectCommand({ Bucket, Key: 'kms/after-delete' }))).ServerSideEncryption).toBe('AES256');
    expect(
      await awsError(
        admin.send(
          new PutBucketEncryptionCommand({
            Bucket,
            ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256', KMSMasterKeyID: key.arn } }] },
          }),
        ),
      ),
    ).toMatchObject({ name: 'InvalidArgument', status: 400 });
    admin.destroy();
  });

  it('evaluates s3:x-amz-server-side-encryption conditions on the headers a write sends', async () => {
    sandbox.setUserPolicies('exporter', [
      putOnly,
      // The classic "refuse unencrypted uploads" statement, as an identity policy.
      {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Deny', Action: 's3:PutObject', Resource: '*', Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } }],
      },
    ]);
    expect((await awsError(exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/plain', Body: 'x' })))).message).toContain('with an explicit deny in an identity-based policy');
    await exporter.send(new PutObjectCommand({ Bucket, Key: 'kms/encrypted', Body: 'x', ServerSideEncryption: 'aws:kms' }));
  });

  it('follows the Keycard seed KMS step: role policy and key policy statement as printed, writes over TLS', async () => {
    // The seed's kms-permissions-policy.json and its AllowKeycardToEncrypt key policy statement.
    const key = sandbox.createKey({ alias: 'alias/keycard' });
    const Bucket = 'your-s3-bucket';
    sandbox.setRolePolicies('immuta-export', [
      JSON.parse(
        `{
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
       },
       {
         "Sid": "AllowKMSEncryption",
         "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": "arn:aws:kms:us-east-1:$AWS_ACCOUNT_ID:key/$KMS_ID"
       }
     ]
   }`
          .replaceAll('$BUCKET_NAME', Bucket)
          .replace('$AWS_ACCOUNT_ID', ACCOUNT)
          .replace('$KMS_ID', key.keyId),
      ),
    ]);
    const statement = JSON.parse(
      `{
     "Sid": "AllowKeycardToEncrypt",
     "Effect": "Allow",
     "Principal": {
       "AWS": "arn:aws:iam::$AWS_ACCOUNT_ID:role/KeycardAuditLogWriter"
     },
     "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
     "Resource": "*"
   }`.replace('$AWS_ACCOUNT_ID:role/KeycardAuditLogWriter', `${ACCOUNT}:role/immuta-export`),
    );
    sandbox.setKeyPolicy(key.keyId, {
      Version: '2012-10-17',
      Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }, statement],
    });
    sandbox.setTrustPolicy('immuta-export', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: sandbox.user('audit-export-service').arn }, Action: 'sts:AssumeRole' }],
    });
    const { Credentials } = await stsClient(sandbox, sandbox.user('audit-export-service')).send(
      new AssumeRoleCommand({ RoleArn: sandbox.role('immuta-export').arn, RoleSessionName: 'keycard' }),
    );
    const role = httpsS3Client(sandbox, sessionCreds(Credentials));
    const written = await role.send(
      new PutObjectCommand({ Bucket, Key: 'keycard/audit_logs/x.parquet', Body: 'PAR1', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn, BucketKeyEnabled: true }),
    );
    expect(written).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn, BucketKeyEnabled: true });
    role.destroy();
  });
});
