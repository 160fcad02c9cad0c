import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Pool } from 'pg';
import { AuditEventRepository } from '../../src/audit-event/audit-event.repository';
import { AuditEventService } from '../../src/audit-event/audit-event.service';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { BUCKET, createAccessKeyConfiguration, startExportHarness, type ExportHarness, exportRunServiceFor } from './export-fixtures';

jest.setTimeout(60_000);

/**
 * Exact bytes: an event is delivered as the canonical text serialised once at ingestion, not as
 * PostgreSQL's rendering of it, and a redelivery of the same object sends the same bytes.
 */
describe('delivered events are the canonical text stored at ingestion, byte for byte', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  let pool: Pool;
  let repository: ExportJobRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    harness = await startExportHarness();
    pool = new Pool({ connectionString: db.url, max: 4 });
    repository = new ExportJobRepository(db.prisma, pool);
  });
  afterAll(async () => {
    await pool?.end();
    await harness?.stop();
    await db?.drop();
  });

  async function readObject(key: string): Promise<Buffer> {
    const auditor = harness.sandbox.user('auditor');
    const s3 = new S3Client({ region: harness.sandbox.region, endpoint: harness.sandbox.endpoint, forcePathStyle: true, credentials: auditor });
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      return gunzipSync(Buffer.from(await object.Body!.transformToByteArray()));
    } finally {
      s3.destroy();
    }
  }

  it('keeps unicode, nested arrays and 1.0e3 as the canonical text; a redelivery writes the same bytes', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { enabled: false });
    // Unusual but valid JSON, as a producer might send it: spacing, unicode (escaped and raw), an
    // exponent, nested arrays, an upper-case id, and keys in an order no schema would choose.
    const line =
      '{ "auditPayload" : {"type":"QueryAuditPayload","matrix":[[1,[2,[3.50, -0]]],[]],"size":1.0e3,"note":"caf\\u00e9 \u65e5\u672c \ud83d\ude00 \\"quoted\\"\\ttab"} ,' +
      ' "eventTimestamp":"2026-11-21T10:00:00.000+02:00", "zeta": null, "actionStatus":"SUCCESS", "action":"QUERY",' +
      ' "id":"0B9E3C2A-1D4F-4E5A-9B6C-7D8E9F0A1B2C", "alpha": {"z": true, "a": false} }';
    const service = new AuditEventService(db.prisma, new AuditEventRepository(), () => new Date('2026-11-21T08:00:01.234Z'));
    await service.ingest(line, 'ndjson');

    // The canonical text: JSON.stringify of the validated event with the service's receivedTimestamp
    // and a lower-cased id: UAM's fields in the model's order, then unknown fields as sent; no
    // whitespace, 1.0e3 as 1000, 3.50 as 3.5, -0 as 0, unicode as itself.
    const expected =
      '{"id":"0b9e3c2a-1d4f-4e5a-9b6c-7d8e9f0a1b2c","action":"QUERY","actionStatus":"SUCCESS","eventTimestamp":"2026-11-21T10:00:00.000+02:00",' +
      '"auditPayload":{"type":"QueryAuditPayload","matrix":[[1,[2,[3.5,0]]],[]],"size":1000,"note":"café 日本 😀 \\"quoted\\"\\ttab"},' +
      '"zeta":null,"alpha":{"z":true,"a":false},"receivedTimestamp":"2026-11-21T08:00:01.234Z"}';
    const [stored] = await db.query<{ text: string }>('SELECT body::text AS text FROM audit_events');
    expect(stored.text).toBe(expected);

    const runs = exportRunServiceFor(db.prisma, repository, harness, { maxEventsPerTask: 100_000 });
    await runs.run(configurationId, 'MANUAL');
    const [task] = await db.prisma.exportJobTask.findMany({ where: { job: { configurationId } } });
    const first = await readObject(task.objectKey);
    expect(first.toString('utf8')).toBe(`${expected}\n`);

    // A redelivery of the same job (as a retry after a lost acknowledgement would do) rewrites the
    // same key with the same bytes.
    await db.query(`UPDATE export_job_tasks SET status = 'PENDING' WHERE id = $1::uuid`, [task.id]);
    await db.query(`UPDATE export_jobs SET status = 'FAILED', next_retry_at = now() WHERE id = $1::uuid`, [task.jobId]);
    await db.query(`UPDATE export_configurations SET cursor = 0 WHERE id = $1::uuid`, [configurationId]);
    await runs.run(configurationId, 'MANUAL');
    const retried = await db.prisma.exportJobTask.findUniqueOrThrow({ where: { id: task.id } });
    expect(retried.status).toBe('SUCCEEDED');
    expect(retried.attempts).toBeGreaterThan(task.attempts);
    expect((await readObject(task.objectKey)).equals(first)).toBe(true);
  });
});
