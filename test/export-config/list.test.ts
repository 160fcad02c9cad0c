import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../http/app.fixture';

/**
 * getAllExportConfigurations reads the list with one statement of its own
 * (ExportConfigurationRepository.listAll), apart from the single-configuration read
 * (getExportConfiguration: Prisma with its relations). Over many configurations of every kind the
 * two must answer the same content, field for field, oldest first.
 */

const FIELDS = `
  id interval enabled connectionStatus integrityValidation createdAt updatedAt runRequestedAt runInProgress
  createdBy { id name } updatedBy { id name }
  endpointConfiguration {
    __typename
    ... on S3AccessKeyEndpointConfiguration { bucket path region serverSideEncryption kmsKeyArn accessKeyId }
    ... on S3AssumedRoleEndpointConfiguration { bucket path region serverSideEncryption kmsKeyArn roleArn externalId }
  }
  lastDeliveredAt lastDeliveredSequence lastError consecutiveFailures nextRunAt disabledReason`;
// deliveryLagSeconds is left out: it is the age of a pending event now, so two reads differ by the time between them.

const CONFIGURATIONS = 60;

let service: TestApp;
let auth: string;
const ids: string[] = [];

beforeAll(async () => {
  service = await startTestApp();
  auth = `Bearer ${await service.createKey('list-reader', ['AUDIT'])}`;
  const owners = [randomUUID(), randomUUID()];
  for (const [index, id] of owners.entries()) await service.db.query('INSERT INTO users (id, name) VALUES ($1, $2)', [id, `owner-${index}`]);
  for (let index = 0; index < CONFIGURATIONS; index += 1) {
    const id = randomUUID();
    ids.push(id);
    const accessKey = index % 2 === 0;
    await service.db.query(
      `INSERT INTO export_configurations (id, interval, enabled, connection_status, endpoint_type, bucket, path, region, access_key_id, secret_ciphertext, role_arn,
                                          server_side_encryption, kms_key_arn, created_by_id, updated_by_id, created_at, updated_at, run_requested_at,
                                          integrity_validation, cursor, consecutive_failures, last_error, disabled_reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
      [
        id,
        ['EVERY_15_MINUTES', 'EVERY_HOUR', 'EVERY_24_HOURS'][index % 3],
        index % 7 !== 0,
        index % 5 === 0 ? 'Error testing access to S3 using access key: AccessDenied' : 'SUCCESS',
        accessKey ? 'S3_ACCESS_KEY' : 'S3_ASSUMED_ROLE',
        `bucket-${index % 4}`,
        index % 3 === 0 ? null : `tenant-${index}/audit "quoted" \\ path`,
        ['us-east-1', 'eu-west-1'][index % 2],
        accessKey ? `AKIA${String(index).padStart(16, '0')}` : null,
        accessKey ? 'not-read-by-the-list' : null,
        accessKey ? null : `arn:aws:iam::123456789012:role/export-${index}`,
        [null, 'AES256', 'aws:kms'][index % 3],
        index % 3 === 2 && index % 2 === 0 ? `arn:aws:kms:us-east-1:123456789012:key/${randomUUID()}` : null,
        index % 4 === 0 ? null : owners[index % 2],
        index % 6 === 0 ? null : owners[(index + 1) % 2],
        // Two configurations share a creation time, so the order falls back to the id.
        new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 123) + Math.floor(index / 2) * 1_000),
        new Date(Date.UTC(2026, 5, 1, 12, 0, 0, 7) + index),
        index % 8 === 0 ? new Date(Date.UTC(2026, 11, 1, 9, 30, 0, 999)) : null,
        index % 3 !== 1,
        String(index * 1000),
        index % 5,
        index % 5 === 0 ? null : `failure ${index}`,
        index % 7 === 0 ? `Disabled automatically (${index})` : null,
      ],
    );
  }
  // A job in progress for some, finished jobs for others: runInProgress and the delivery status read them.
  for (const [index, id] of ids.entries()) {
    if (index % 4 === 1) {
      await service.db.query(
        `INSERT INTO export_jobs (id, configuration_id, trigger, status, from_sequence, to_sequence, bucket, start_timestamp) VALUES ($1, $2, 'MANUAL', 'IN_PROGRESS', 0, 10, 'b', now())`,
        [randomUUID(), id],
      );
    }
    if (index % 3 === 0) {
      await service.db.query(
        `INSERT INTO export_jobs (id, configuration_id, trigger, status, from_sequence, to_sequence, bucket, start_timestamp, end_timestamp)
         VALUES ($1, $2, 'SCHEDULED', 'SUCCEEDED', 0, 10, 'b', '2026-11-30T10:00:00.250Z', '2026-11-30T10:00:05.500Z')`,
        [randomUUID(), id],
      );
    }
  }
});
afterAll(async () => {
  await service?.close();
});

it('lists every configuration, oldest first, with the same content as getExportConfiguration returns for each', async () => {
  const { body } = await service.graphql({ query: `{ getAllExportConfigurations { ${FIELDS} } }` }, auth);
  expect(body.errors).toBeUndefined();
  const listed = body.data!.getAllExportConfigurations as Array<Record<string, unknown>>;
  expect(listed).toHaveLength(CONFIGURATIONS);

  const stored = await service.db.query<{ id: string }>('SELECT id::text FROM export_configurations ORDER BY created_at, id');
  expect(listed.map((configuration) => configuration.id)).toEqual(stored.map((row) => row.id));

  for (const configuration of listed) {
    const single = await service.graphql({ query: `query($id: String!) { getExportConfiguration(id: $id) { ${FIELDS} } }`, variables: { id: configuration.id } }, auth);
    expect(single.body.errors).toBeUndefined();
    expect(configuration).toEqual(single.body.data!.getExportConfiguration);
  }

  // The variety the seed meant to cover is really in the answer.
  const kinds = (key: string) => new Set(listed.map((configuration) => JSON.stringify(configuration[key])));
  expect(kinds('runInProgress')).toEqual(new Set(['true', 'false']));
  expect(listed.some((configuration) => configuration.createdBy === null)).toBe(true);
  expect(listed.some((configuration) => configuration.runRequestedAt === '2026-12-01T09:30:00.999Z')).toBe(true);
  const endpoints = listed.map((configuration) => configuration.endpointConfiguration as Record<string, unknown>);
  expect(new Set(endpoints.map((endpoint) => endpoint.__typename))).toEqual(new Set(['S3AccessKeyEndpointConfiguration', 'S3AssumedRoleEndpointConfiguration']));
  expect(new Set(endpoints.map((endpoint) => endpoint.serverSideEncryption))).toEqual(new Set([null, 'AES256', 'AWS_KMS']));
  expect(JSON.stringify(listed)).not.toContain('not-read-by-the-list');
});
