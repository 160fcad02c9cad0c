import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Pool } from 'pg';
import { AuditEventRepository } from '../../src/audit-event/audit-event.repository';
import { AuditEventService } from '../../src/audit-event/audit-event.service';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { objectUuid } from '../../src/export-job/export-object-key';
import { ExportRunService } from '../../src/export-job/export-run.service';
import { mapUamEventToOcsf } from '../../src/delivery-format/ocsf/ocsf-mapping';
import type { DeliveryFormat, ExportPartitioning, ObjectNaming } from '../../src/generated/prisma/enums';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { BUCKET, createAccessKeyConfiguration, startExportHarness, uamEvent, type ExportHarness, exportRunServiceFor } from './export-fixtures';

jest.setTimeout(300_000);

/**
 * Issue #9's must-show for the text formats: for each format and each partitioning, 10,000 events
 * whose event times are spread over three days are delivered exactly once, each object in the
 * partition of its events' time, with keys unique per configuration and the same on a retry.
 * Every configuration writes under one shared prefix: their keys must never collide.
 */

const EVENT_COUNT = 10_000;
const MAX_EVENTS_PER_TASK = 1_000;
const SHARED_PATH = 'shared/audit';
const FIRST_DAY = Date.UTC(2026, 10, 20);
const THREE_DAYS_S = 3 * 86_400;
const ACCOUNT_ID = '444455556666';

const TEXT_FORMATS: DeliveryFormat[] = ['NDJSON_GZIP', 'JSON_ARRAY_GZIP', 'CLOUDTRAIL_JSON_GZIP'];
const FORMATS: DeliveryFormat[] = [...TEXT_FORMATS, 'OCSF_PARQUET'];
const PARTITIONINGS: ExportPartitioning[] = ['DELIVERY_DATE', 'EVENT_HOUR_HIVE', 'SECURITY_LAKE'];
const CASES: Array<[DeliveryFormat, ExportPartitioning, ObjectNaming]> = FORMATS.flatMap((format, f) =>
  PARTITIONINGS.map((partitioning, p): [DeliveryFormat, ExportPartitioning, ObjectNaming] => [format, partitioning, (f + p) % 2 === 0 ? 'JOB_OFFSET' : 'TIMESTAMP_UUID']),
);

const EXTENSION: Record<string, string> = { NDJSON_GZIP: 'ndjson.gz', JSON_ARRAY_GZIP: 'json.gz', CLOUDTRAIL_JSON_GZIP: 'json.gz', OCSF_PARQUET: 'parquet' };
const CONTENT_TYPE: Record<string, string> = {
  NDJSON_GZIP: 'application/x-ndjson',
  JSON_ARRAY_GZIP: 'application/json',
  CLOUDTRAIL_JSON_GZIP: 'application/json',
  OCSF_PARQUET: 'application/vnd.apache.parquet',
};

/** An event of `index`: times jump around the three days (a stride prime to their length), so partitions interleave in ingestion order. */
function spreadEvent(index: number): Record<string, unknown> {
  const seconds = (index * 7919) % THREE_DAYS_S;
  return { ...uamEvent(index), eventTimestamp: new Date(FIRST_DAY + seconds * 1000 + (index % 1000)).toISOString() };
}

interface StoredObject {
  key: string;
  bytes: Buffer;
  contentType?: string;
  contentEncoding?: string;
  metadata: Record<string, string>;
}

describe('delivery formats and partitionings', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  let pool: Pool;
  let repository: ExportJobRepository;
  let runs: ExportRunService;
  let s3: S3Client;
  /** Ingestion order: id → position, and id → canonical stored text. */
  const position = new Map<string, number>();
  const storedText = new Map<string, string>();
  const eventTime = new Map<string, Date>();
  const keysByConfiguration = new Map<string, string[]>();
  /** An independent Parquet reader for the OCSF objects, and a folder for the files it reads. */
  let duckdb: DuckDBInstance;
  let duckdbConnection: DuckDBConnection;
  let parquetFolder: string;

  beforeAll(async () => {
    duckdb = await DuckDBInstance.create(':memory:');
    duckdbConnection = await duckdb.connect();
    parquetFolder = mkdtempSync(join(tmpdir(), 'delivery-formats-'));
    db = await createTestDatabase();
    harness = await startExportHarness();
    pool = new Pool({ connectionString: db.url, max: 4 });
    repository = new ExportJobRepository(db.prisma, pool);
    runs = exportRunServiceFor(db.prisma, repository, harness, { maxEventsPerTask: MAX_EVENTS_PER_TASK });
    const auditor = harness.sandbox.user('auditor');
    s3 = new S3Client({ region: harness.sandbox.region, endpoint: harness.sandbox.endpoint, forcePathStyle: true, credentials: auditor });

    const service = new AuditEventService(db.prisma, new AuditEventRepository());
    for (let start = 0; start < EVENT_COUNT; start += 1000) {
      const events = Array.from({ length: 1000 }, (_, offset) => spreadEvent(start + offset));
      await service.ingest(events.map((event) => JSON.stringify(event)).join('\n'), 'ndjson');
    }
    const rows = await db.query<{ id: string; text: string; event_timestamp: Date }>('SELECT id::text, body::text AS text, event_timestamp FROM audit_events ORDER BY sequence');
    rows.forEach((row, index) => {
      position.set(row.id, index);
      storedText.set(row.id, row.text);
      eventTime.set(row.id, row.event_timestamp);
    });
    expect(rows).toHaveLength(EVENT_COUNT);
    // The spread really covers three days.
    expect(new Set(rows.map((row) => row.event_timestamp.toISOString().slice(0, 10)))).toEqual(new Set(['2026-11-20', '2026-11-21', '2026-11-22']));
  });
  afterAll(async () => {
    duckdbConnection?.closeSync();
    duckdb?.closeSync();
    if (parquetFolder) rmSync(parquetFolder, { recursive: true, force: true });
    s3?.destroy();
    await pool?.end();
    await harness?.stop();
    await db?.drop();
  });

  async function getObject(key: string): Promise<StoredObject> {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return {
      key,
      bytes: Buffer.from(await object.Body!.transformToByteArray()),
      contentType: object.ContentType,
      contentEncoding: object.ContentEncoding,
      metadata: object.Metadata ?? {},
    };
  }

  /** The events of an object, decoded per its format with node's zlib and JSON.parse; the raw text too. */
  function decode(format: DeliveryFormat, object: StoredObject): { text: string; events: Array<Record<string, unknown>> } {
    const text = gunzipSync(object.bytes).toString('utf8');
    if (format === 'NDJSON_GZIP') {
      const lines = text.split('\n');
      expect(lines.pop()).toBe('');
      return { text, events: lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
    }
    const parsed = JSON.parse(text) as unknown;
    if (format === 'JSON_ARRAY_GZIP') {
      expect(Array.isArray(parsed)).toBe(true);
      return { text, events: parsed as Array<Record<string, unknown>> };
    }
    expect(Object.keys(parsed as object)).toEqual(['Records']);
    return { text, events: (parsed as { Records: Array<Record<string, unknown>> }).Records };
  }

  /**
   * The rows of an OCSF Parquet object as DuckDB reads them (read_parquet, in file order): the
   * event id (metadata.uid), class_uid and time in epoch milliseconds.
   */
  async function readOcsf(object: StoredObject): Promise<Array<{ id: string; classUid: number; time: number }>> {
    const file = join(parquetFolder, `${object.key.replaceAll('/', '_')}`);
    writeFileSync(file, object.bytes);
    const reader = await duckdbConnection.runAndReadAll(
      `SELECT metadata.uid AS id, class_uid, epoch_ms(time) AS time FROM read_parquet('${file}', file_row_number = true) ORDER BY file_row_number`,
    );
    return (reader.getRowObjectsJson() as Array<{ id: string; class_uid: number; time: string | number }>).map((row) => ({
      id: row.id,
      classUid: Number(row.class_uid),
      time: Number(row.time),
    }));
  }

  /** The exact text an object of `format` must hold for these events (each the stored canonical text). */
  function expectedText(format: DeliveryFormat, ids: string[]): string {
    const texts = ids.map((id) => storedText.get(id)!);
    if (format === 'NDJSON_GZIP') return texts.map((text) => `${text}\n`).join('');
    if (format === 'JSON_ARRAY_GZIP') return `[${texts.join(',')}]`;
    return `{"Records":[${texts.join(',')}]}`;
  }

  function expectedFolder(partitioning: ExportPartitioning, jobStart: Date, eventTimestamp: Date): string {
    const day = (at: Date) => at.toISOString().slice(0, 10);
    switch (partitioning) {
      case 'DELIVERY_DATE':
        return day(jobStart).replaceAll('-', '/');
      case 'EVENT_HOUR_HIVE':
        return `dt=${day(eventTimestamp)}/hour=${eventTimestamp.toISOString().slice(11, 13)}`;
      case 'SECURITY_LAKE':
        return `region=${harness.sandbox.region}/accountId=${ACCOUNT_ID}/eventDay=${day(eventTimestamp).replaceAll('-', '')}`;
    }
  }

  it.each(CASES)('%s with %s partitions (%s names): every event once, each object in its partition, keys fixed across a retry', async (format, partitioning, objectNaming) => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { path: SHARED_PATH, enabled: false });
    await db.prisma.exportConfiguration.update({
      where: { id: configurationId },
      data: { format, partitioning, objectNaming, securityLakeAccountId: partitioning === 'SECURITY_LAKE' ? ACCOUNT_ID : null },
    });
    await expect(runs.run(configurationId, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded', eventCount: EVENT_COUNT });

    const job = await db.prisma.exportJob.findFirstOrThrow({ where: { configurationId }, include: { tasks: { orderBy: { offset: 'asc' } } } });
    expect(job).toMatchObject({ status: 'SUCCEEDED', format, eventCount: EVENT_COUNT });
    const delivered = new Map<string, number>();
    const keys: string[] = [];
    for (const task of job.tasks) {
      const object = await getObject(task.objectKey);
      keys.push(task.objectKey);
      expect(object.contentType).toBe(CONTENT_TYPE[format]);
      expect(object.contentEncoding).toBe(format === 'OCSF_PARQUET' ? undefined : 'gzip');
      // The object says which configuration wrote it, whatever the naming.
      expect(object.metadata['export-configuration-id']).toBe(configurationId);
      let ids: string[];
      if (format === 'OCSF_PARQUET') {
        // Read back with DuckDB: one row per event, each the OCSF record of its stored canonical text.
        const rows = await readOcsf(object);
        ids = rows.map((row) => row.id);
        for (const row of rows) {
          const record = mapUamEventToOcsf(JSON.parse(storedText.get(row.id)!) as Record<string, unknown>);
          expect({ id: row.id, classUid: row.classUid, time: row.time }).toEqual({ id: row.id, classUid: record.class_uid, time: eventTime.get(row.id)!.getTime() });
        }
      } else {
        const { text, events } = decode(format, object);
        ids = events.map((event) => event.id as string);
        // Exactly the canonical texts: the format only frames them.
        expect(text).toBe(expectedText(format, ids));
      }
      expect(ids.length).toBe(task.limit);
      expect(ids.length).toBeLessThanOrEqual(MAX_EVENTS_PER_TASK);
      // In ingestion order.
      expect(ids.map((id) => position.get(id)!)).toEqual(ids.map((id) => position.get(id)!).sort((a, b) => a - b));
      for (const id of ids) delivered.set(id, (delivered.get(id) ?? 0) + 1);

      // The key: <path>/<partition of every event in it>/<name>.<ext>
      const folders = new Set(ids.map((id) => expectedFolder(partitioning, job.startTimestamp!, eventTime.get(id)!)));
      expect(folders.size).toBe(1);
      const name = task.objectKey.slice(`${SHARED_PATH}/${[...folders][0]}/`.length);
      expect(task.objectKey.startsWith(`${SHARED_PATH}/${[...folders][0]}/`)).toBe(true);
      if (objectNaming === 'JOB_OFFSET') {
        expect(name).toBe(`${job.id}-${task.offset.toString().padStart(10, '0')}.${EXTENSION[format]}`);
      } else {
        const stamp = job.startTimestamp!.toISOString().slice(0, 19).replace('T', '-').replaceAll(':', '-');
        expect(name).toBe(`${stamp}-${objectUuid(configurationId, job.id, task.offset)}.${EXTENSION[format]}`);
      }
    }
    expect(delivered.size).toBe(EVENT_COUNT);
    expect([...delivered.values()].every((count) => count === 1)).toBe(true);
    expect([...delivered.keys()].every((id) => position.has(id))).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);
    if (partitioning !== 'DELIVERY_DATE') {
      // Event-time partitions over three days: many folders, each its own objects.
      expect(new Set(keys.map((key) => key.split('/').slice(0, -1).join('/'))).size).toBeGreaterThanOrEqual(partitioning === 'EVENT_HOUR_HIVE' ? 72 : 3);
    }
    const [{ cursor }] = await db.query<{ cursor: string }>('SELECT cursor::text FROM export_configurations WHERE id = $1', [configurationId]);
    expect(cursor).toBe(job.toSequence.toString());

    // No key of this configuration is one another configuration on the same prefix wrote.
    for (const [other, otherKeys] of keysByConfiguration) {
      expect({ other, shared: otherKeys.filter((key) => keys.includes(key)) }).toEqual({ other, shared: [] });
    }
    keysByConfiguration.set(configurationId, keys);

    // A retry of the whole job (as after a lost acknowledgement): the same keys, overwritten with the same bytes.
    const before = new Map(job.tasks.map((task) => [task.id, { key: task.objectKey, sha256: task.sha256 }]));
    await db.query(`UPDATE export_job_tasks SET status = 'PENDING' WHERE job_id = $1::uuid`, [job.id]);
    await db.query(`UPDATE export_jobs SET status = 'FAILED', next_retry_at = now() WHERE id = $1::uuid`, [job.id]);
    await db.query(`UPDATE export_configurations SET cursor = $2 WHERE id = $1::uuid`, [configurationId, job.fromSequence.toString()]);
    await expect(runs.run(configurationId, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded', eventCount: EVENT_COUNT });
    const retried = await db.prisma.exportJobTask.findMany({ where: { jobId: job.id } });
    expect(retried).toHaveLength(job.tasks.length);
    for (const task of retried) {
      expect(task.status).toBe('SUCCEEDED');
      expect({ key: task.objectKey, sha256: task.sha256 }).toEqual(before.get(task.id));
    }
    expect(await db.prisma.exportJob.count({ where: { configurationId } })).toBe(1);
  });

  it('writes no object twice under the shared prefix: every listed key is one task of one configuration', async () => {
    const listed: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${SHARED_PATH}/`, ContinuationToken: token }));
      listed.push(...(page.Contents ?? []).map((object) => object.Key!).filter((key) => !key.includes('/_digest/') && !key.endsWith('.immuta.export.log')));
      token = page.NextContinuationToken;
    } while (token);
    const planned = [...keysByConfiguration.values()].flat();
    expect(keysByConfiguration.size).toBe(CASES.length);
    expect(listed.sort()).toEqual([...planned].sort());
  });

  it('objects read back with the standard gzip tool (and jq for the JSON formats) give the same events', async () => {
    for (const format of TEXT_FORMATS) {
      const [task] = await db.prisma.exportJobTask.findMany({ where: { job: { format } }, orderBy: { offset: 'asc' }, take: 1 });
      const object = await getObject(task.objectKey);
      const text = execFileSync('gzip', ['-dc'], { input: object.bytes, maxBuffer: 64 * 1024 * 1024 }).toString('utf8');
      expect(text).toBe(decode(format, object).text);
      if (format === 'NDJSON_GZIP') {
        expect(execFileSync('jq', ['-c', '.id'], { input: text }).toString('utf8').trim().split('\n')).toEqual(
          decode(format, object).events.map((event) => JSON.stringify(event.id)),
        );
      } else {
        const selector = format === 'JSON_ARRAY_GZIP' ? '.[].id' : '.Records[].id';
        expect(execFileSync('jq', ['-c', selector], { input: text }).toString('utf8').trim().split('\n')).toEqual(
          decode(format, object).events.map((event) => JSON.stringify(event.id)),
        );
      }
    }
  });
});
