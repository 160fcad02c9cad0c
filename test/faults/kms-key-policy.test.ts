import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BUCKET, exportedIdsInJobOrder, ingestEvents } from '../export-job/export-fixtures';
import { trustPolicyFor } from '../sandbox/sandbox.fixture';
import { eventually, startFaultService, storedEventIds, type FaultService } from './fault.fixture';

jest.setTimeout(120_000);

const FIELDS = `id connectionStatus endpointConfiguration { ... on S3AssumedRoleEndpointConfiguration { serverSideEncryption kmsKeyArn } }`;
const CREATE = `mutation($data: S3AssumedRoleExportConfigurationInput!) { createS3AssumedRoleExportConfiguration(data: $data) { ${FIELDS} } }`;
const RETEST = `mutation($id: String!) { testExportConfigurationConnection(id: $id) { ${FIELDS} } }`;
const POLICIES = `query($id: String!) { getExportConfigurationPolicies(id: $id) { permissionsPolicy } }`;
const RUN = `mutation($id: String!) { runExportConfiguration(id: $id) { id } }`;
const JOBS = `query($id: String!) { getAllExportJobs(exportConfigurationId: $id) { id status lastFailureReason } }`;

/**
 * SSE-KMS with a customer key whose key policy does not let the export role use it (issue #10):
 * the customer sees the KMS denial in connectionStatus, fixes the key policy, and from then on
 * every object is written encrypted under that key. The service as `npm start` runs it (API and
 * in-process worker) against the sandbox, whose S3 asks its KMS on the caller's behalf.
 */
describe('a configuration with aws:kms and a key its role may not use', () => {
  let service: FaultService;

  beforeAll(async () => {
    service = await startFaultService({ env: { HEALTH_CHECK_PERIOD_MS: '3600000', EXPORT_RETRY_BASE_DELAY_MS: '600000', EXPORT_TASK_MAX_EVENTS: '400' } });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('names the KMS denial in connectionStatus; once the key policy allows the role, every object is aws:kms under that key', async () => {
    const { db } = service.t;
    const { sandbox } = service.harness;
    const role = sandbox.role('immuta-export');
    // A key policy that names only the auditor: it neither names the role nor delegates to the
    // account's IAM policies, so the role's own kms:* permissions are not enough.
    const closedPolicy = {
      Version: '2012-10-17' as const,
      Statement: [{ Effect: 'Allow' as const, Principal: { AWS: sandbox.user('auditor').arn }, Action: 'kms:*', Resource: '*' }],
    };
    const key = sandbox.createKey({ alias: 'alias/audit-exports-closed', keyPolicy: closedPolicy });

    await ingestEvents(db.prisma, 1_000);
    const created = await service.gql(CREATE, {
      data: { interval: 'EVERY_24_HOURS', bucket: BUCKET, path: 'kms-closed', region: sandbox.region, roleArn: role.arn, serverSideEncryption: 'AWS_KMS', kmsKeyArn: key.arn },
    });
    expect(created.errors).toBeUndefined();
    const id = created.data.createS3AssumedRoleExportConfiguration.id as string;
    // As in Immuta's walkthrough: the trust policy names the new id, then the generated permissions policy (with its KMS statement).
    sandbox.setTrustPolicy('immuta-export', trustPolicyFor(sandbox.accountId, id));
    const policies = await service.gql(POLICIES, { id });
    sandbox.setRolePolicies('immuta-export', [JSON.parse(policies.data.getExportConfigurationPolicies.permissionsPolicy as string)]);

    const retested = await service.gql(RETEST, { id });
    expect(retested.errors).toBeUndefined();
    const denial = retested.data.testExportConfigurationConnection.connectionStatus as string;
    expect(denial).toMatch(/kms:GenerateDataKey/);
    expect(denial).toContain(key.arn);
    expect(denial).toMatch(/resource-based policy/);
    expect(retested.data.testExportConfigurationConnection.endpointConfiguration).toEqual({ serverSideEncryption: 'AWS_KMS', kmsKeyArn: key.arn });

    // The new configuration's first export ran at once (and failed, on the trust policy or on this
    // denial, whichever it met); a run asked for now fails on the KMS denial and delivers nothing.
    expect((await service.gql(RUN, { id })).errors).toBeUndefined();
    const failed = await eventuallyJob(id, (job) => job.status === 'FAILED' && /kms:GenerateDataKey/.test(job.lastFailureReason ?? ''));
    expect(failed.lastFailureReason).toContain(key.arn);
    expect((await readObjectKeys()).filter((objectKey) => objectKey.endsWith('.ndjson.gz'))).toEqual([]);

    // The key's administrator lets the role use the key.
    sandbox.setKeyPolicy(key.keyId, {
      Version: '2012-10-17',
      Statement: [...closedPolicy.Statement, { Effect: 'Allow', Principal: { AWS: role.arn }, Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*' }],
    });
    const fixed = await service.gql(RETEST, { id });
    expect(fixed.data.testExportConfigurationConnection.connectionStatus).toBe('SUCCESS');
    // The recovered connection brings the failed job's retry forward (its backoff is 10 minutes).
    await eventuallyJob(id, (job) => job.status === 'SUCCEEDED');
    // Every event stored when the job was planned, once, in order.
    const [{ to }] = await db.query<{ to: string }>('SELECT to_sequence::text AS to FROM export_jobs WHERE configuration_id = $1', [id]);
    const planned = (await storedEventIds(db)).slice(0, Number((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE sequence <= $1', [to]))[0].n));
    expect(planned.length).toBeGreaterThanOrEqual(1_000);
    expect(await exportedIdsInJobOrder(db.prisma, sandbox, 'kms-closed/')).toEqual(planned);

    // Every object under the path, the export objects and the connection test's log alike.
    const keys = await readObjectKeys();
    expect(keys.filter((objectKey) => objectKey.endsWith('.ndjson.gz')).length).toBeGreaterThanOrEqual(3);
    expect(keys).toContain('kms-closed/.immuta.export.log');
    const s3 = auditorClient();
    try {
      for (const objectKey of keys) {
        const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: objectKey }));
        expect({ objectKey, sse: head.ServerSideEncryption, keyId: head.SSEKMSKeyId }).toEqual({ objectKey, sse: 'aws:kms', keyId: key.arn });
      }
    } finally {
      s3.destroy();
    }
  });

  function auditorClient(): S3Client {
    const { sandbox } = service.harness;
    return new S3Client({ region: sandbox.region, endpoint: sandbox.endpoint, forcePathStyle: true, credentials: sandbox.user('auditor') });
  }

  async function readObjectKeys(): Promise<string[]> {
    const s3 = auditorClient();
    try {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'kms-closed/' }));
      return (listed.Contents ?? []).map((object) => object.Key!);
    } finally {
      s3.destroy();
    }
  }

  async function eventuallyJob(id: string, done: (job: { status: string; lastFailureReason: string | null }) => boolean) {
    return eventually(
      'the job to reach the expected state',
      async () => {
        const jobs = (await service.gql(JOBS, { id })).data.getAllExportJobs as Array<{ status: string; lastFailureReason: string | null }>;
        return jobs.length === 1 && done(jobs[0]) ? jobs[0] : undefined;
      },
      30_000,
    );
  }
});
