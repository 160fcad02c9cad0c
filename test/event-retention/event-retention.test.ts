import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { AuditEventPartitionRepository } from '../../src/audit-event/audit-event-partition.repository';
import { AuditEventRepository } from '../../src/audit-event/audit-event.repository';
import type { AuditEventRecord } from '../../src/audit-event/audit-event.schema';
import { AuditEventWatermarkRepository } from '../../src/audit-event/audit-event-watermark.repository';
import { createLogger } from '../../src/common/logger';
import { EventRetentionRepository } from '../../src/event-retention/event-retention.repository';
import { EventStoreMaintenanceService } from '../../src/event-retention/event-store-maintenance.service';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { startTestApp, type TestApp } from '../http/app.fixture';

const DAY_MS = 24 * 3_600_000;

/**
 * Partitions made ahead of ingestion, and retention (docs/event-store.md), on a real database and
 * through the API: nothing an enabled configuration still needs is dropped, a disabled one holds
 * nothing past retention, and the API says what it missed.
 */
describe('event store partitions and retention', () => {
  let t: TestApp;
  let key: string;
  let pool: Pool;
  let clock: Date;
  let maintenance: EventStoreMaintenanceService;
  const partitions = () => new AuditEventPartitionRepository(t.db.prisma);

  const ingest = async (count: number, receivedAt: Date): Promise<string[]> => {
    const events: AuditEventRecord[] = Array.from({ length: count }, () => {
      const id = randomUUID();
      return { id, action: 'QUERY', eventTimestamp: receivedAt, receivedTimestamp: receivedAt, body: { id, receivedTimestamp: receivedAt.toISOString() } };
    });
    await t.db.prisma.$transaction((tx) => new AuditEventRepository().insertMany(tx, events));
    return events.map((event) => event.id);
  };

  const configuration = async (enabled: boolean, cursor: number): Promise<string> => {
    const id = randomUUID();
    await t.db.prisma.exportConfiguration.create({
      data: {
        id,
        enabled,
        cursor,
        interval: 'EVERY_HOUR',
        connectionStatus: 'SUCCESS',
        endpointType: 'S3_ASSUMED_ROLE',
        bucket: 'b-ucket',
        region: 'us-east-1',
        roleArn: 'arn:aws:iam::111122223333:role/r',
      },
    });
    return id;
  };

  const storedSequences = async () => (await t.db.query<{ s: string }>('SELECT sequence::text AS s FROM audit_events ORDER BY sequence')).map((row) => Number(row.s));

  const missedEvents = async (id: string) => {
    const response = await t.graphql(
      { query: 'query ($id: String!) { getExportConfiguration(id: $id) { id missedEvents { count fromSequence toSequence droppedAt } } }', variables: { id } },
      `Bearer ${key}`,
    );
    expect(response.body.errors).toBeUndefined();
    return response.body.data?.getExportConfiguration.missedEvents;
  };

  beforeAll(async () => {
    t = await startTestApp({ env: { RUN_WORKER_IN_PROCESS: 'false' } });
    key = await t.createKey('admin', ['AUDIT']);
    // Sequences from 1 again, so the partition bounds below are known: the key's self-audit event goes.
    await t.db.query('TRUNCATE audit_events, audit_event_ids, audit_event_watermarks');
    await t.db.query('ALTER SEQUENCE audit_events_sequence_seq RESTART WITH 1');
    pool = new Pool({ connectionString: t.db.url, max: 2 });
    clock = new Date();
    maintenance = new EventStoreMaintenanceService(
      t.db.prisma,
      partitions(),
      new EventRetentionRepository(t.db.prisma),
      { partitionSize: 10, partitionsAhead: 1, retentionDays: 30 },
      createLogger('silent', 'test'),
      () => clock,
    );
  });
  afterAll(async () => {
    await pool.end();
    await t.close();
  });

  it('creates partitions ahead of ingestion, and moves what the default partition took into them', async () => {
    // The migration's partition ends where the sequence stood; nothing is ahead of it yet, so the
    // default partition takes these.
    const received = new Date(Date.now() - 60 * DAY_MS);
    await ingest(25, received);
    expect(Number((await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_events_default'))[0].n)).toBe(25);

    const { created } = await maintenance.pass();
    expect(created).toEqual(['audit_events_0000000000000000001', 'audit_events_0000000000000000011', 'audit_events_0000000000000000021', 'audit_events_0000000000000000031']);
    expect(await t.db.query('SELECT 1 FROM audit_events_default')).toHaveLength(0);
    expect(await storedSequences()).toEqual(Array.from({ length: 25 }, (_, index) => index + 1));
    const counts = await t.db.query<{ name: string; n: string }>(`SELECT tableoid::regclass::text AS name, count(*)::text AS n FROM audit_events GROUP BY 1 ORDER BY 1`);
    expect(counts).toEqual([
      { name: 'audit_events_0000000000000000001', n: '10' },
      { name: 'audit_events_0000000000000000011', n: '10' },
      { name: 'audit_events_0000000000000000021', n: '5' },
    ]);
    // A second pass has nothing to do.
    expect((await maintenance.pass()).created).toEqual([]);
  });

  it('prunes an export range to the partitions that hold it', async () => {
    const [plan] = await t.db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (FORMAT JSON) SELECT body::text FROM audit_events WHERE sequence > 12 AND sequence <= 18 ORDER BY sequence`);
    const scanned = JSON.stringify(plan['QUERY PLAN']).match(/audit_events_[0-9a-z]+/g) ?? [];
    expect([...new Set(scanned)]).toEqual(['audit_events_0000000000000000011']);
  });

  it('drops a partition only once retention has passed and every enabled configuration exported it; a disabled one misses it, and the API says so', async () => {
    const watermark = new AuditEventWatermarkRepository(t.db.prisma);
    expect(await watermark.advance(30_000)).toBe(true);
    const ahead = await configuration(true, 15); // past [1, 11), not past [11, 21)
    const behindDisabled = await configuration(false, 5);
    // The disabled configuration's unfinished job covers events retention will drop.
    await t.db.prisma.exportConfiguration.update({ where: { id: behindDisabled }, data: { enabled: true } });
    const job = await new ExportJobRepository(t.db.prisma, pool).planJob({
      configurationId: behindDisabled,
      trigger: 'MANUAL',
      bucket: 'b-ucket',
      path: null,
      maxEventsPerTask: 100,
      startedAt: new Date(),
      objectKey: (planned, offset) => `${planned.id}/${offset}`,
    });
    expect(job?.fromSequence).toBe(5n);
    await t.db.prisma.exportConfiguration.update({ where: { id: behindDisabled }, data: { enabled: false } });

    // Within retention nothing that holds events goes, even what everyone exported; the
    // migration's partition, [MINVALUE, 1), holds none.
    clock = new Date(Date.now() - 45 * DAY_MS);
    expect((await maintenance.pass()).dropped).toEqual(['audit_events_0000000000000000000']);
    expect(await storedSequences()).toHaveLength(25);

    clock = new Date();
    // [1, 11) is past the enabled one; [11, 21) is held by it; [21, 31) is not closed.
    expect((await maintenance.pass()).dropped).toEqual(['audit_events_0000000000000000001']);
    expect(await storedSequences()).toEqual(Array.from({ length: 15 }, (_, index) => index + 11));
    // Nothing the enabled configuration still needs is gone: every event after its cursor is there.
    expect(Number((await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_events WHERE sequence > 15'))[0].n)).toBe(10);

    const missed = await missedEvents(behindDisabled);
    expect(missed).toMatchObject({ count: 5, fromSequence: '6', toSequence: '10' });
    expect(Date.parse(missed.droppedAt)).toBe(clock.getTime());
    expect(await missedEvents(ahead)).toBeNull();
    const [superseded] = await t.db.query<{ status: string; failure_reason: string }>('SELECT status::text, failure_reason FROM export_jobs WHERE id = $1', [job?.id]);
    expect(superseded.status).toBe('SUPERSEDED');
    expect(superseded.failure_reason).toMatch(/dropped by retention/);

    // Once the enabled configuration has exported [11, 21), it goes too, and the disabled one's miss grows.
    await t.db.prisma.exportConfiguration.update({ where: { id: ahead }, data: { cursor: 20 } });
    expect((await maintenance.pass()).dropped).toEqual(['audit_events_0000000000000000011']);
    expect(await missedEvents(behindDisabled)).toMatchObject({ count: 15, fromSequence: '6', toSequence: '20' });
  });

  it('still deduplicates the ids of events whose partition was dropped', async () => {
    const [first] = await ingest(1, new Date());
    const result = await t.db.prisma.$transaction((tx) =>
      new AuditEventRepository().insertMany(tx, [{ id: first, action: 'QUERY', eventTimestamp: new Date(), receivedTimestamp: new Date(), body: { id: first } }]),
    );
    expect(result).toEqual({ inserted: 0, duplicates: 1 });
    const [dropped] = await t.db.query<{ id: string }>('SELECT id::text FROM audit_event_ids EXCEPT SELECT id::text FROM audit_events LIMIT 1');
    const again = await t.db.prisma.$transaction((tx) =>
      new AuditEventRepository().insertMany(tx, [{ id: dropped.id, action: 'QUERY', eventTimestamp: new Date(), receivedTimestamp: new Date(), body: { id: dropped.id } }]),
    );
    expect(again).toEqual({ inserted: 0, duplicates: 1 });
  });
});
