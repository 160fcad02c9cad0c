import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Pool } from 'pg';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.server';
import { ExportDigestChainRepository } from '../../src/export-job/export-digest-chain.repository';
import { ExportDigestWriter } from '../../src/export-job/export-digest.writer';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { DEFAULT_RUN_OPTIONS, ExportRunService } from '../../src/export-job/export-run.service';
import { ExportTaskUploader } from '../../src/export-job/export-task.uploader';
import { trustAnyConfigurationId } from '../sandbox/sandbox.fixture';
import { silentLogger, uamEvent } from '../export-job/export-fixtures';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { seedAccessKeyMutation } from '../support/seed-documents';

jest.setTimeout(180_000);

/**
 * The delivery settings of issue #9 through the API: the seed's documents keep today's delivery,
 * each setting is validated (BAD_USER_INPUT naming the field, nothing stored), eventFilter and
 * startFrom choose exactly the events they say.
 */

const SETTINGS = `format partitioning objectNaming securityLakeAccountId
  eventFilter { include { actions actionStatuses targetTypes auditPayloadTypes } exclude { actions actionStatuses targetTypes auditPayloadTypes } }`;
const CREATE_ACCESS_KEY = `mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) { id ${SETTINGS} } }`;
const CREATE_ASSUMED_ROLE = `mutation($data: S3AssumedRoleExportConfigurationInput!) { createS3AssumedRoleExportConfiguration(data: $data) { id ${SETTINGS} } }`;
const UPDATE_ACCESS_KEY = `mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { id ${SETTINGS} } }`;

const ACTIONS = ['QUERY', 'LOGIN', 'CREATE', 'QUERY', 'UPDATE'];

describe('delivery settings over GraphQL', () => {
  let sandbox: Sandbox;
  let t: TestApp;
  let key: string;
  let pool: Pool;
  let runs: ExportRunService;
  let s3: S3Client;

  beforeAll(async () => {
    sandbox = await startSandbox();
    t = await startTestApp({ sandbox, env: { LOG_LEVEL: 'silent' } });
    key = `Bearer ${await t.createKey('admin', ['AUDIT'])}`;
    pool = new Pool({ connectionString: t.db.url, max: 4 });
    // Runs are started by the test (no worker): the same service the worker runs, on the app's database and AWS clients.
    const repository = new ExportJobRepository(t.app.prisma, pool);
    runs = new ExportRunService(
      repository,
      new ExportTaskUploader(repository),
      new ExportDigestWriter(repository, new ExportDigestChainRepository(t.app.prisma), t.app.services.digestSigningKeys, silentLogger),
      t.app.services.awsClients,
      { ...DEFAULT_RUN_OPTIONS, maxEventsPerTask: 5_000 },
      silentLogger,
    );
    const auditor = sandbox.user('auditor');
    s3 = new S3Client({ region: sandbox.region, endpoint: sandbox.endpoint, forcePathStyle: true, credentials: auditor });
  });
  afterAll(async () => {
    s3?.destroy();
    await pool?.end();
    await t?.close();
    await sandbox?.stop();
  });

  const validAccessKey = (path: string) => {
    const exporter = sandbox.user('exporter');
    return { interval: 'EVERY_12_HOURS', bucket: 'your-s3-bucket', path, region: sandbox.region, accessKeyId: exporter.accessKeyId, secretAccessKey: exporter.secretAccessKey };
  };

  async function create(data: Record<string, unknown>, query = CREATE_ACCESS_KEY): Promise<Record<string, any>> {
    const { body } = await t.graphql({ query, variables: { data } }, key);
    expect(body.errors).toBeUndefined();
    return body.data![query === CREATE_ACCESS_KEY ? 'createS3AccessKeyExportConfiguration' : 'createS3AssumedRoleExportConfiguration'];
  }

  async function ingest(events: Array<Record<string, unknown>>): Promise<void> {
    for (let start = 0; start < events.length; start += 1000) {
      await t.app.services.auditEvents.ingest(
        events
          .slice(start, start + 1000)
          .map((event) => JSON.stringify(event))
          .join('\n'),
        'ndjson',
      );
    }
  }

  /** Every event id delivered for the configuration, per object, read back from the bucket (gzip NDJSON). */
  async function deliveredObjects(configurationId: string): Promise<Array<{ key: string; contentType?: string; text: string; ids: string[] }>> {
    const tasks = await t.app.prisma.exportJobTask.findMany({
      where: { job: { configurationId, status: 'SUCCEEDED' } },
      orderBy: [{ job: { createdAt: 'asc' } }, { offset: 'asc' }],
    });
    const objects = [];
    for (const task of tasks) {
      const object = await s3.send(new GetObjectCommand({ Bucket: 'your-s3-bucket', Key: task.objectKey }));
      const text = gunzipSync(Buffer.from(await object.Body!.transformToByteArray())).toString('utf8');
      const ids = text
        .split('\n')
        .filter((line) => line)
        .map((line) => (JSON.parse(line) as { id: string }).id);
      objects.push({ key: task.objectKey, contentType: object.ContentType, text, ids });
    }
    return objects;
  }

  const cursorOf = async (id: string) => (await t.db.query<{ cursor: string }>('SELECT cursor::text FROM export_configurations WHERE id = $1', [id]))[0].cursor;
  const newestSequence = async () => (await t.db.query<{ max: string }>('SELECT coalesce(max(sequence), 0)::text AS max FROM audit_events'))[0].max;

  it("the seed's create mutation, unchanged, answers as before and delivers NDJSON under today's keys", async () => {
    const exporter = sandbox.user('exporter');
    const mutation = seedAccessKeyMutation(sandbox.region, exporter);
    const { body } = await t.graphql({ query: mutation }, key);
    expect(body.errors).toBeUndefined();
    const created = body.data!.createS3AccessKeyExportConfiguration;
    expect(created).toEqual({
      id: expect.any(String),
      interval: 'EVERY_12_HOURS',
      enabled: true,
      connectionStatus: 'SUCCESS',
      endpointConfiguration: { bucket: 'your-s3-bucket', path: 'your-optional-s3-bucket-path', region: sandbox.region },
    });
    const [row] = await t.db.query('SELECT format, partitioning, object_naming, event_filter, security_lake_account_id, cursor::text FROM export_configurations WHERE id = $1', [
      created.id,
    ]);
    expect(row).toEqual({ format: 'NDJSON_GZIP', partitioning: 'DELIVERY_DATE', object_naming: 'JOB_OFFSET', event_filter: null, security_lake_account_id: null, cursor: '0' });

    await ingest(Array.from({ length: 50 }, (_, index) => uamEvent(index)));
    await expect(runs.run(created.id, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded' });
    const [job] = await t.app.prisma.exportJob.findMany({ where: { configurationId: created.id } });
    const [object] = await deliveredObjects(created.id);
    const day = job.startTimestamp!.toISOString().slice(0, 10).replaceAll('-', '/');
    expect(object.key).toBe(`your-optional-s3-bucket-path/${day}/${job.id}-0000000000.ndjson.gz`);
    expect(object.contentType).toBe('application/x-ndjson');
    // Today's bytes: every stored event (the seed's configuration starts from the beginning), one canonical text per line.
    const stored = await t.db.query<{ text: string }>('SELECT body::text AS text FROM audit_events WHERE sequence <= $1 ORDER BY sequence', [job.toSequence.toString()]);
    expect(object.text).toBe(stored.map((event) => `${event.text}\n`).join(''));
  });

  it('eventFilter excluding QUERY: no QUERY event delivered, every other one delivered once, the cursor past all', async () => {
    const created = await create({ ...validAccessKey('filtered'), eventFilter: { exclude: { actions: ['QUERY'] } } });
    expect(created).toMatchObject({
      format: 'NDJSON_GZIP',
      eventFilter: { include: null, exclude: { actions: ['QUERY'], actionStatuses: null, targetTypes: null, auditPayloadTypes: null } },
    });
    await ingest(Array.from({ length: 3_000 }, (_, index) => ({ ...uamEvent(index), action: ACTIONS[index % ACTIONS.length] })));
    await expect(runs.run(created.id, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded' });

    const delivered = (await deliveredObjects(created.id)).flatMap((object) => object.ids);
    const stored = await t.db.query<{ id: string; action: string }>('SELECT id::text, action FROM audit_events ORDER BY sequence');
    const expected = stored.filter((event) => event.action !== 'QUERY').map((event) => event.id);
    expect(expected.length).toBeGreaterThan(1_000);
    expect(delivered).toEqual(expected);
    expect(await cursorOf(created.id)).toBe(await newestSequence());

    // A job of QUERY events only delivers nothing and still moves the cursor past them.
    const objectsBefore = (await deliveredObjects(created.id)).length;
    await ingest(Array.from({ length: 500 }, (_, index) => uamEvent(10_000 + index)));
    await runs.run(created.id, 'MANUAL');
    expect(await cursorOf(created.id)).toBe(await newestSequence());
    expect((await deliveredObjects(created.id)).length).toBe(objectsBefore);
  });

  it('eventFilter include lists combine with AND, and exclude by any field', async () => {
    const created = await create({
      ...validAccessKey('filtered-include'),
      format: 'NDJSON_GZIP',
      eventFilter: { include: { actions: ['QUERY', 'LOGIN'], auditPayloadTypes: ['DatabricksQueryAuditPayload'] }, exclude: { actionStatuses: ['FAILURE'] } },
    });
    await ingest(
      Array.from({ length: 1_000 }, (_, index) => ({
        ...uamEvent(20_000 + index),
        action: ACTIONS[index % ACTIONS.length],
        actionStatus: index % 7 === 0 ? 'FAILURE' : 'SUCCESS',
      })),
    );
    await runs.run(created.id, 'MANUAL');
    const delivered = (await deliveredObjects(created.id)).flatMap((object) => object.ids);
    // The filter's meaning, said on the bodies themselves (not on the columns the export filters by).
    const expected = await t.db.query<{ id: string }>(
      `SELECT id::text FROM audit_events
        WHERE body->>'action' IN ('QUERY', 'LOGIN') AND body->'auditPayload'->>'type' = 'DatabricksQueryAuditPayload' AND body->>'actionStatus' <> 'FAILURE'
        ORDER BY sequence`,
    );
    expect(expected.length).toBeGreaterThan(100);
    expect(delivered).toEqual(expected.map((row) => row.id));
  });

  /** Inserts `count` events in one statement, as ingestion stores them (every column, and each id claimed in audit_event_ids), received at `receivedAt`. */
  async function bulkInsert(count: number, receivedAt: Date): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `WITH generated AS (SELECT gen_random_uuid() AS id, n, $2::timestamptz - make_interval(secs => n) AS event_timestamp FROM generate_series(1, $1::int) n),
              claimed AS (INSERT INTO audit_event_ids (id) SELECT id FROM generated)
         INSERT INTO audit_events (id, action, event_timestamp, received_timestamp, body, action_status, target_type, payload_type)
         SELECT id, 'QUERY', event_timestamp, $2::timestamptz,
                json_build_object('id', id, 'action', 'QUERY', 'actionStatus', 'SUCCESS', 'eventTimestamp', event_timestamp, 'targetType', 'DATASOURCE',
                                  'auditPayload', json_build_object('type', 'QueryAuditPayload'), 'receivedTimestamp', $2::timestamptz),
                'SUCCESS', 'DATASOURCE', 'QueryAuditPayload'
           FROM generated ORDER BY n`,
        [count, receivedAt.toISOString()],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  it('startFrom NOW on a store of 100,000 old events delivers none of them and every event ingested afterwards', async () => {
    await bulkInsert(100_000, new Date(Date.now() - 86_400_000));
    const oldest = await newestSequence();
    expect(Number(oldest)).toBeGreaterThan(100_000);
    const created = await create({ ...validAccessKey('from-now'), startFrom: 'NOW' });
    await ingest(Array.from({ length: 700 }, (_, index) => uamEvent(30_000 + index)));
    await expect(runs.run(created.id, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded' });

    const delivered = (await deliveredObjects(created.id)).flatMap((object) => object.ids);
    // Everything after the store as it was at creation: the creation's own self-audit event and the 700.
    const afterwards = await t.db.query<{ id: string }>('SELECT id::text FROM audit_events WHERE sequence > $1 ORDER BY sequence', [oldest]);
    expect(afterwards.length).toBe(701);
    expect(delivered).toEqual(afterwards.map((row) => row.id));
  });

  it('startFrom a timestamp delivers the events received from then on, in ingestion order', async () => {
    const january = new Date('2026-01-10T00:00:00Z');
    const february = new Date('2026-02-10T00:00:00Z');
    await bulkInsert(1_000, january);
    const lastJanuary = await newestSequence();
    await bulkInsert(1_000, february);
    const created = await create({ ...validAccessKey('from-timestamp'), startFrom: '2026-02-01T00:00:00+01:00' });
    await runs.run(created.id, 'MANUAL');
    const delivered = (await deliveredObjects(created.id)).flatMap((object) => object.ids);
    const expected = await t.db.query<{ id: string }>('SELECT id::text FROM audit_events WHERE sequence > $1 ORDER BY sequence', [lastJanuary]);
    expect(expected.length).toBe(1_001);
    expect(delivered).toEqual(expected.map((row) => row.id));
  });

  it("SECURITY_LAKE for an assumed-role configuration takes the role ARN's account", async () => {
    sandbox.setTrustPolicy('immuta-export', trustAnyConfigurationId(sandbox.accountId));
    const created = await create(
      {
        interval: 'EVERY_12_HOURS',
        bucket: 'your-s3-bucket',
        path: 'lake/ext/immuta',
        region: sandbox.region,
        roleArn: sandbox.role('immuta-export').arn,
        partitioning: 'SECURITY_LAKE',
      },
      CREATE_ASSUMED_ROLE,
    );
    expect(created).toMatchObject({ partitioning: 'SECURITY_LAKE', securityLakeAccountId: null });
    await t.db.query('UPDATE export_configurations SET cursor = (SELECT max(sequence) FROM audit_events) WHERE id = $1', [created.id]);
    await ingest([{ ...uamEvent(40_000), eventTimestamp: '2026-11-21T23:59:59.999Z' }]);
    await expect(runs.run(created.id, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded', eventCount: 1 });
    const [object] = await deliveredObjects(created.id);
    expect(object.key).toMatch(new RegExp(`^lake/ext/immuta/region=${sandbox.region}/accountId=${sandbox.accountId}/eventDay=20261121/[0-9a-f-]{36}-0000000000\\.ndjson\\.gz$`));
  });

  describe('refuses invalid values with BAD_USER_INPUT naming the field, and changes nothing', () => {
    /** Every configuration's settings, as one text: what a refused request must leave as it was. */
    const rows = async () =>
      (
        await t.db.query<{ snapshot: string | null }>(
          `SELECT string_agg(concat_ws('|', id, version, format, partitioning, object_naming, event_filter::text, security_lake_account_id, cursor), ';' ORDER BY id) AS snapshot
             FROM export_configurations`,
        )
      )[0].snapshot;

    async function expectRefused(query: string, data: Record<string, unknown>, field: string, message?: RegExp) {
      const before = await rows();
      const { body } = await t.graphql({ query, variables: { data } }, key);
      const [error] = body.errors ?? [];
      expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(error.extensions?.field).toBe(`data.${field}`);
      expect(error.message).toContain(field.split('.').pop()!);
      if (message) expect(error.message).toMatch(message);
      expect(body.data ?? null).toBeNull();
      expect(await rows()).toEqual(before);
    }

    // Every row has all four entries: a shorter row would hand the test Jest's `done` callback as `message`.
    const invalid: Array<[string, Record<string, unknown>, string, RegExp | undefined]> = [
      ['an unknown format', { format: 'PARQUET' }, 'format', undefined],
      ['an unknown partitioning', { partitioning: 'DAILY' }, 'partitioning', undefined],
      ['an unknown object naming', { objectNaming: 'RANDOM' }, 'objectNaming', undefined],
      ['a filter with an empty value', { eventFilter: { include: { actions: [''] } } }, 'eventFilter.include.actions.0', undefined],
      [
        'a filter with too many values',
        { eventFilter: { exclude: { targetTypes: Array.from({ length: 101 }, (_, index) => `T${index}`) } } },
        'eventFilter.exclude.targetTypes',
        undefined,
      ],
      ['a filter on an unknown field', { eventFilter: { include: { actor: ['x'] } } }, 'eventFilter.include.actor', undefined],
      ['a malformed account id', { partitioning: 'SECURITY_LAKE', securityLakeAccountId: '1234' }, 'securityLakeAccountId', undefined],
      ['SECURITY_LAKE with an access key and no account id', { partitioning: 'SECURITY_LAKE' }, 'securityLakeAccountId', /required with partitioning SECURITY_LAKE/],
      ['a startFrom that is no position', { startFrom: 'yesterday' }, 'startFrom', undefined],
      ['a startFrom in the future', { startFrom: '2999-01-01T00:00:00Z' }, 'startFrom', /future/],
    ];
    it.each(invalid)('on create: %s', async (_what, fields, field, message) => {
      await expectRefused(CREATE_ACCESS_KEY, { ...validAccessKey('refused'), ...fields }, field, message);
    });

    it('on update: each setting, and startFrom (create only)', async () => {
      const created = await create({ ...validAccessKey('to-update') });
      const update = (fields: Record<string, unknown>) => ({ id: created.id, ...fields });
      await expectRefused(UPDATE_ACCESS_KEY, update({ format: 'PARQUET' }), 'format');
      await expectRefused(UPDATE_ACCESS_KEY, update({ partitioning: 'HOURLY' }), 'partitioning');
      await expectRefused(UPDATE_ACCESS_KEY, update({ objectNaming: 'UUID' }), 'objectNaming');
      await expectRefused(UPDATE_ACCESS_KEY, update({ partitioning: 'SECURITY_LAKE' }), 'securityLakeAccountId');
      await expectRefused(UPDATE_ACCESS_KEY, update({ eventFilter: { exclude: { actions: ['x'.repeat(257)] } } }), 'eventFilter.exclude.actions.0');
      await expectRefused(UPDATE_ACCESS_KEY, update({ startFrom: 'NOW' }), 'startFrom');

      // Valid changes are stored and answered; removing the account id under SECURITY_LAKE is refused.
      const { body } = await t.graphql(
        {
          query: UPDATE_ACCESS_KEY,
          variables: {
            data: update({
              format: 'CLOUDTRAIL_JSON_GZIP',
              partitioning: 'SECURITY_LAKE',
              securityLakeAccountId: '123456789012',
              objectNaming: 'TIMESTAMP_UUID',
              eventFilter: { include: { actionStatuses: ['SUCCESS'] } },
            }),
          },
        },
        key,
      );
      expect(body.errors).toBeUndefined();
      expect(body.data!.updateS3AccessKeyExportConfiguration).toMatchObject({
        format: 'CLOUDTRAIL_JSON_GZIP',
        partitioning: 'SECURITY_LAKE',
        securityLakeAccountId: '123456789012',
        objectNaming: 'TIMESTAMP_UUID',
        eventFilter: { include: { actionStatuses: ['SUCCESS'] }, exclude: null },
      });
      await expectRefused(UPDATE_ACCESS_KEY, update({ securityLakeAccountId: null }), 'securityLakeAccountId');
      // null removes the filter.
      const cleared = await t.graphql({ query: UPDATE_ACCESS_KEY, variables: { data: update({ eventFilter: null }) } }, key);
      expect(cleared.body.data!.updateS3AccessKeyExportConfiguration.eventFilter).toBeNull();
    });
  });
});
