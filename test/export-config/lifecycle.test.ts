import { randomBytes, randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { createExportQueue, INTERVAL_MS, schedulerIdFor } from '../../src/export-schedule/export-queue';
import { openSandbox } from '../sandbox/sandbox.fixture';
import { startTestApp, type TestApp } from '../http/app.fixture';

/**
 * The configuration lifecycle over HTTP against real PostgreSQL, Redis (BullMQ job schedulers read
 * back with getJobSchedulers) and the S3+STS sandbox: update, enable, disable, delete, unknown ids,
 * and what is left in the database afterwards.
 */

const REGION = 'us-east-1';
const CONFIGURATION_FIELDS = `id interval enabled connectionStatus
  endpointConfiguration { __typename ... on S3AccessKeyEndpointConfiguration { bucket path region accessKeyId } ... on S3AssumedRoleEndpointConfiguration { bucket path region roleArn } }`;

let sandbox: Awaited<ReturnType<typeof openSandbox>>;
let service: TestApp;
let queue: Queue;
let auth: string;

beforeAll(async () => {
  sandbox = await openSandbox();
  // Own BullMQ namespace: this file's schedulers are the only ones under it.
  const prefix = `${process.env.BULLMQ_PREFIX ?? 'audit-export-test'}-lifecycle-${randomBytes(4).toString('hex')}`;
  service = await startTestApp({ sandbox, env: { BULLMQ_PREFIX: prefix } });
  queue = createExportQueue({ redisUrl: service.app.env.REDIS_URL, prefix });
  auth = `Bearer ${await service.createKey('admin', ['AUDIT'])}`;
});
afterAll(async () => {
  await queue?.obliterate({ force: true });
  await queue?.close();
  await service?.close();
  await sandbox?.close();
});

async function gql(query: string, variables: Record<string, unknown> = {}) {
  const { body } = await service.graphql({ query, variables }, auth);
  return body;
}

async function createAccessKey(overrides: Record<string, unknown> = {}): Promise<string> {
  const exporter = sandbox.user('exporter');
  const body = await gql(`mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) { id connectionStatus } }`, {
    data: {
      interval: 'EVERY_6_HOURS',
      bucket: 'your-s3-bucket',
      path: 'lifecycle',
      region: REGION,
      accessKeyId: exporter.accessKeyId,
      secretAccessKey: exporter.secretAccessKey,
      ...overrides,
    },
  });
  expect(body.errors).toBeUndefined();
  return body.data!.createS3AccessKeyExportConfiguration.id;
}

async function scheduler(id: string) {
  return (await queue.getJobSchedulers(0, -1)).find((entry) => (entry.id ?? entry.key) === schedulerIdFor(id));
}

async function selfAuditTypes(id: string): Promise<string[]> {
  const rows = await service.db.query<{ type: string }>(
    `SELECT body->'auditPayload'->>'type' AS type FROM audit_events WHERE (body->'targets')::jsonb @> $1::jsonb ORDER BY sequence`,
    [JSON.stringify([{ id }])],
  );
  return rows.map((row) => row.type);
}

/** Every table and column (text, varchar, json, arrays: anything cast to text) that contains `needle`. */
async function whereStored(needle: string): Promise<string[]> {
  const columns = await service.db.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED')`,
  );
  const hits: string[] = [];
  for (const { table_name, column_name } of columns) {
    const [row] = await service.db.query<{ n: string }>(`SELECT count(*) AS n FROM "${table_name}" WHERE strpos("${column_name}"::text, $1) > 0`, [needle]);
    if (Number(row!.n) > 0) hits.push(`${table_name}.${column_name}`);
  }
  return hits;
}

test('disable removes the scheduler (nothing left to run); enable brings it back with its interval and re-tests', async () => {
  const id = await createAccessKey();
  expect(Number((await scheduler(id))?.every)).toBe(INTERVAL_MS.EVERY_6_HOURS);

  const disabled = await gql(`mutation($id: String!) { disableExportConfiguration(id: $id) { ${CONFIGURATION_FIELDS} } }`, { id });
  expect(disabled.data!.disableExportConfiguration).toMatchObject({ id, enabled: false });
  expect(await scheduler(id)).toBeUndefined();
  // No next iteration is scheduled. (A scheduled-export job BullMQ had already enqueued before the
  // disable may still wait in the queue; the export run skips SCHEDULED runs of disabled
  // configurations, so only manual runs could export, and none was asked for.)
  const delayed = await queue.getJobs(['delayed']);
  expect(delayed.filter((job) => job.data?.configurationId === id)).toEqual([]);
  const queued = await queue.getJobs(['waiting', 'prioritized', 'active']);
  expect(queued.filter((job) => job.data?.configurationId === id).map((job) => job.name)).not.toContain('manual-export');
  const [{ n: jobs }] = await service.db.query<{ n: string }>('SELECT count(*) AS n FROM export_jobs WHERE configuration_id = $1', [id]);
  expect(Number(jobs)).toBe(0);
  // Kept: the configuration is still there, disabled.
  const [stored] = await service.db.query<{ enabled: boolean; next_health_check_at: Date | null }>(
    'SELECT enabled, next_health_check_at FROM export_configurations WHERE id = $1',
    [id],
  );
  expect(stored).toEqual({ enabled: false, next_health_check_at: null });

  const [before] = await service.db.query<{ last_tested_at: Date }>('SELECT last_tested_at FROM export_configurations WHERE id = $1', [id]);
  const enabled = await gql(`mutation($id: String!) { enableExportConfiguration(id: $id) { ${CONFIGURATION_FIELDS} } }`, { id });
  expect(enabled.data!.enableExportConfiguration).toMatchObject({ id, enabled: true, connectionStatus: 'SUCCESS' });
  expect(Number((await scheduler(id))?.every)).toBe(INTERVAL_MS.EVERY_6_HOURS);
  const [after] = await service.db.query<{ last_tested_at: Date }>('SELECT last_tested_at FROM export_configurations WHERE id = $1', [id]);
  expect(after!.last_tested_at.getTime()).toBeGreaterThan(before!.last_tested_at.getTime());

  expect(await selfAuditTypes(id)).toEqual(['ExportConfigurationCreatedAuditPayload', 'ExportConfigurationDisabledAuditPayload', 'ExportConfigurationEnabledAuditPayload']);
});

test('the shorter intervals: created as EVERY_15_MINUTES over GraphQL, the scheduler runs every 900,000 ms; updated to EVERY_HOUR, every 3,600,000 ms', async () => {
  // The values written out (not INTERVAL_MS), so a wrong table in the code cannot pass its own test.
  const id = await createAccessKey({ interval: 'EVERY_15_MINUTES' });
  const created = await gql(`query($id: String!) { getExportConfiguration(id: $id) { interval } }`, { id });
  expect(created.data!.getExportConfiguration).toEqual({ interval: 'EVERY_15_MINUTES' });
  expect(Number((await scheduler(id))?.every)).toBe(900_000);
  const [stored] = await service.db.query<{ interval: string }>('SELECT interval::text AS interval FROM export_configurations WHERE id = $1', [id]);
  expect(stored).toEqual({ interval: 'EVERY_15_MINUTES' });

  const updated = await gql(`mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { id interval } }`, {
    data: { id, interval: 'EVERY_HOUR' },
  });
  expect(updated.errors).toBeUndefined();
  expect(updated.data!.updateS3AccessKeyExportConfiguration).toEqual({ id, interval: 'EVERY_HOUR' });
  expect(Number((await scheduler(id))?.every)).toBe(3_600_000);
  expect((await queue.getJobSchedulers(0, -1)).filter((entry) => (entry.id ?? entry.key) === schedulerIdFor(id))).toHaveLength(1);
});

test("update: a new interval changes the scheduler's every without re-testing; a new destination re-tests", async () => {
  const id = await createAccessKey();
  const [before] = await service.db.query<{ last_tested_at: Date }>('SELECT last_tested_at FROM export_configurations WHERE id = $1', [id]);

  const mutation = `mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { ${CONFIGURATION_FIELDS} } }`;
  const updated = await gql(mutation, { data: { id, interval: 'EVERY_2_HOURS' } });
  expect(updated.data!.updateS3AccessKeyExportConfiguration).toMatchObject({
    interval: 'EVERY_2_HOURS',
    connectionStatus: 'SUCCESS',
    endpointConfiguration: { bucket: 'your-s3-bucket', path: 'lifecycle' },
  });
  expect(Number((await scheduler(id))?.every)).toBe(INTERVAL_MS.EVERY_2_HOURS);
  const [afterInterval] = await service.db.query<{ last_tested_at: Date }>('SELECT last_tested_at FROM export_configurations WHERE id = $1', [id]);
  expect(afterInterval!.last_tested_at).toEqual(before!.last_tested_at);

  // A bucket the key may not write to: the re-test fails, and the change is still stored with that status.
  const moved = await gql(mutation, { data: { id, bucket: 'audit-exports' } });
  expect(moved.data!.updateS3AccessKeyExportConfiguration.connectionStatus).toMatch(/^Error testing access to S3 using AccessKey AKIA\w+ - /);
  const back = await gql(mutation, { data: { id, bucket: 'your-s3-bucket', path: null } });
  expect(back.data!.updateS3AccessKeyExportConfiguration).toMatchObject({ connectionStatus: 'SUCCESS', endpointConfiguration: { path: null } });

  const events = await service.db.query<{ payload: Record<string, unknown> }>(
    `SELECT body->'auditPayload' AS payload FROM audit_events WHERE (body->'targets')::jsonb @> $1::jsonb AND body->'auditPayload'->>'type' = 'ExportConfigurationUpdatedAuditPayload' ORDER BY sequence`,
    [JSON.stringify([{ id }])],
  );
  expect(events.map((event) => event.payload.changedFields)).toEqual([['interval'], ['bucket'], ['bucket', 'path']]);
});

test('update: a new secret replaces the old one and leaves no trace of it (nor of its ciphertext) in the database', async () => {
  const oldSecret = `OLD/${randomBytes(18).toString('base64url')}`;
  const id = await createAccessKey({ secretAccessKey: oldSecret });
  const [{ secret_ciphertext: oldCiphertext }] = await service.db.query<{ secret_ciphertext: string }>('SELECT secret_ciphertext FROM export_configurations WHERE id = $1', [id]);
  // Positive controls: the search finds what is there.
  expect(await whereStored(oldCiphertext)).toEqual(['export_configurations.secret_ciphertext']);

  const exporter = sandbox.user('exporter');
  const rotated = await gql(`mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { connectionStatus } }`, {
    data: { id, secretAccessKey: exporter.secretAccessKey },
  });
  // The old secret was wrong for this key; the new one works, so the change re-tested the connection.
  expect(rotated.data!.updateS3AccessKeyExportConfiguration.connectionStatus).toBe('SUCCESS');

  expect(await whereStored(oldSecret)).toEqual([]);
  expect(await whereStored(oldCiphertext)).toEqual([]);
  // The new secret is stored only as a new ciphertext, never in clear.
  expect(await whereStored(exporter.secretAccessKey)).toEqual([]);
  const [{ secret_ciphertext: newCiphertext }] = await service.db.query<{ secret_ciphertext: string }>('SELECT secret_ciphertext FROM export_configurations WHERE id = $1', [id]);
  expect(newCiphertext).not.toBe(oldCiphertext);
  expect(service.app.services.secretBox.decrypt(newCiphertext, id)).toBe(exporter.secretAccessKey);

  // A new key id without its secret is refused (it would pair the new id with the old secret).
  const refused = await gql(`mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { id } }`, {
    data: { id, accessKeyId: 'AKIASANDBOXAUDITOR01' },
  });
  expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'data.secretAccessKey' });
});

test('delete: the configuration, its scheduler and its stored secret are gone; it is returned as it was', async () => {
  const id = await createAccessKey();
  const [{ secret_ciphertext: ciphertext }] = await service.db.query<{ secret_ciphertext: string }>('SELECT secret_ciphertext FROM export_configurations WHERE id = $1', [id]);
  expect(await scheduler(id)).toBeDefined();

  const deleted = await gql(`mutation($id: String!) { deleteExportConfiguration(id: $id) { ${CONFIGURATION_FIELDS} } }`, { id });
  expect(deleted.data!.deleteExportConfiguration).toMatchObject({ id, interval: 'EVERY_6_HOURS', endpointConfiguration: { bucket: 'your-s3-bucket' } });

  expect(await service.db.query('SELECT id FROM export_configurations WHERE id = $1', [id])).toEqual([]);
  expect(await scheduler(id)).toBeUndefined();
  expect(await whereStored(ciphertext)).toEqual([]);
  expect((await gql(`query($id: String!) { getExportConfiguration(id: $id) { id } }`, { id })).data!.getExportConfiguration).toBeNull();
  expect(await selfAuditTypes(id)).toEqual(['ExportConfigurationCreatedAuditPayload', 'ExportConfigurationDeletedAuditPayload']);
});

test('unknown ids are NOT_FOUND; the wrong update mutation for the type is BAD_USER_INPUT and changes nothing', async () => {
  const unknown = randomUUID();
  const operations: Array<[string, Record<string, unknown>]> = [
    [`mutation($id: String!) { enableExportConfiguration(id: $id) { id } }`, { id: unknown }],
    [`mutation($id: String!) { disableExportConfiguration(id: $id) { id } }`, { id: unknown }],
    [`mutation($id: String!) { deleteExportConfiguration(id: $id) { id } }`, { id: unknown }],
    [`mutation($id: String!) { testExportConfigurationConnection(id: $id) { id } }`, { id: unknown }],
    [
      `mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { id } }`,
      { data: { id: unknown, interval: 'EVERY_2_HOURS' } },
    ],
    [
      `mutation($data: UpdateS3AssumedRoleExportConfigurationInput!) { updateS3AssumedRoleExportConfiguration(data: $data) { id } }`,
      { data: { id: unknown, interval: 'EVERY_2_HOURS' } },
    ],
    [`query($id: String!) { getExportConfigurationPolicies(id: $id) { permissionsPolicy } }`, { id: unknown }],
  ];
  for (const [query, variables] of operations) {
    const body = await gql(query, variables);
    expect({ query, code: body.errors?.[0]?.extensions?.code }).toEqual({ query, code: 'NOT_FOUND' });
  }
  // A malformed id names no configuration either.
  const malformed = await gql(`query($id: String!) { getExportConfigurationPolicies(id: $id) { permissionsPolicy } }`, { id: 'not-a-configuration-id' });
  expect(malformed.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

  const id = await createAccessKey();
  const wrong = await gql(`mutation($data: UpdateS3AssumedRoleExportConfigurationInput!) { updateS3AssumedRoleExportConfiguration(data: $data) { id } }`, {
    data: { id, roleArn: sandbox.role('immuta-export').arn, interval: 'EVERY_24_HOURS' },
  });
  expect(wrong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'data.id' });
  const [row] = await service.db.query<{ interval: string; role_arn: string | null }>('SELECT interval, role_arn FROM export_configurations WHERE id = $1', [id]);
  expect(row).toEqual({ interval: 'EVERY_6_HOURS', role_arn: null });
});
