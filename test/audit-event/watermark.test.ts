import { randomUUID } from 'node:crypto';
import { Client, Pool } from 'pg';
import { AuditEventRepository } from '../../src/audit-event/audit-event.repository';
import type { AuditEventRecord } from '../../src/audit-event/audit-event.schema';
import { AuditEventWatermarkRepository } from '../../src/audit-event/audit-event-watermark.repository';
import { ExportJobRepository, type PlannedJob } from '../../src/export-job/export-job.repository';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The late-commit interleavings of docs/delivery-guarantees.md ("Ingestion without a global lock"),
 * with real transactions on separate connections that commit out of order.
 */

function record(): AuditEventRecord {
  const id = randomUUID();
  const now = new Date();
  return { id, action: 'QUERY', eventTimestamp: now, receivedTimestamp: now, body: { id, action: 'QUERY' } };
}

/** A transaction on a connection of its own, left open until commit() or rollback(). */
class OpenTransaction {
  private constructor(private readonly client: Client) {}

  static async begin(url: string): Promise<OpenTransaction> {
    const client = new Client({ connectionString: url });
    await client.connect();
    await client.query('BEGIN');
    return new OpenTransaction(client);
  }

  /** The ingestion statement of AuditEventRepository, run on this connection's transaction. */
  async insert(events: AuditEventRecord[]): Promise<void> {
    const tx = { $queryRawUnsafe: (sql: string, ...params: unknown[]) => this.client.query(sql, params).then((result) => result.rows) };
    await new AuditEventRepository().insertMany(tx as never, events);
  }

  query(sql: string): Promise<unknown> {
    return this.client.query(sql);
  }

  async commit(): Promise<void> {
    await this.client.query('COMMIT');
    await this.client.end();
  }

  async rollback(): Promise<void> {
    await this.client.query('ROLLBACK');
    await this.client.end();
  }
}

describe('export watermark: events that commit late are never skipped', () => {
  let db: TestDatabase;
  let pool: Pool;
  /** Plans that must stop early (a transaction is kept open on purpose) wait briefly for their tick. */
  let jobsWhileOpen: ExportJobRepository;
  /**
   * Plans that must cover everything wait long: transaction ids are cluster-wide, so a writing
   * transaction of any test running meanwhile on the same server delays them too.
   */
  let jobs: ExportJobRepository;
  let configurationId: string;
  const open: OpenTransaction[] = [];

  const sequenceOf = async (event: AuditEventRecord) =>
    BigInt((await db.query<{ sequence: string }>('SELECT sequence::text FROM audit_events WHERE id = $1', [event.id]))[0].sequence);

  /** Plans a job and completes it at once (as a run would after delivering it); the ids it covered. */
  async function planAndComplete(planner: ExportJobRepository = jobs): Promise<string[]> {
    const job: PlannedJob | null = await planner.planJob({
      configurationId,
      trigger: 'MANUAL',
      bucket: 'b-ucket',
      path: null,
      maxEventsPerTask: 2,
      startedAt: new Date(),
      objectKey: (planned, offset) => `${planned.id}/${offset}`,
    });
    if (!job) return [];
    const rows = await db.query<{ id: string }>('SELECT id::text FROM audit_events WHERE sequence > $1 AND sequence <= $2 ORDER BY sequence', [
      job.fromSequence.toString(),
      job.toSequence.toString(),
    ]);
    expect(job.tasks.reduce((sum, task) => sum + task.limit, 0)).toBe(rows.length);
    expect(await jobs.completeJob(job, rows.length)).toBe(true);
    return rows.map((row) => row.id);
  }

  async function ingestCommitted(events: AuditEventRecord[]): Promise<void> {
    await db.prisma.$transaction((tx) => new AuditEventRepository().insertMany(tx, events));
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 4 });
    jobsWhileOpen = new ExportJobRepository(db.prisma, pool, undefined, 150);
    jobs = new ExportJobRepository(db.prisma, pool, undefined, 30_000);
  });
  // A transaction a failed test left open would hold the watermark back for every later test.
  afterEach(async () => {
    await Promise.all(open.splice(0).map((transaction) => transaction.rollback().catch(() => undefined)));
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(async () => {
    configurationId = randomUUID();
    await db.prisma.exportConfiguration.create({
      data: {
        id: configurationId,
        interval: 'EVERY_HOUR',
        connectionStatus: 'SUCCESS',
        endpointType: 'S3_ASSUMED_ROLE',
        bucket: 'b-ucket',
        region: 'us-east-1',
        roleArn: 'arn:aws:iam::111122223333:role/r',
      },
    });
    // Whatever earlier tests left is exported first.
    await planAndComplete();
  });

  const begin = async () => {
    const transaction = await OpenTransaction.begin(db.url);
    open.push(transaction);
    return transaction;
  };

  it('stops before the events of a transaction that drew first and commits last, and exports them once it commits', async () => {
    const before = [record()];
    await ingestCommitted(before);
    // A plan's tick (or any) after `before` committed and before T1 began: `before` is final.
    expect(await new AuditEventWatermarkRepository(db.prisma).advance(30_000)).toBe(true);
    const t1 = await begin();
    const late = [record(), record()];
    await t1.insert(late);
    const early = [record()];
    await ingestCommitted(early); // T2: drew after T1, commits first

    // T1 is in flight: the plan stops before its events, and so before T2's too.
    expect(await planAndComplete(jobsWhileOpen)).toEqual(before.map((event) => event.id));
    expect(await planAndComplete(jobsWhileOpen)).toEqual([]);

    await t1.commit();
    expect(await sequenceOf(late[1])).toBeLessThan(await sequenceOf(early[0]));
    expect(await planAndComplete()).toEqual([...late, ...early].map((event) => event.id));
  });

  it('goes on past the sequence values of a transaction that rolls back', async () => {
    const t1 = await begin();
    await t1.insert([record(), record()]);
    const committed = [record()];
    await ingestCommitted(committed);
    expect(await planAndComplete(jobsWhileOpen)).toEqual([]);
    await t1.rollback();
    expect(await planAndComplete()).toEqual(committed.map((event) => event.id));
  });

  it('covers an insert made in a subtransaction once its transaction commits', async () => {
    const t1 = await begin();
    await t1.query('SAVEPOINT nested');
    const nested = [record()];
    await t1.insert(nested);
    await t1.query('RELEASE SAVEPOINT nested');
    const later = [record()];
    await ingestCommitted(later);
    expect(await planAndComplete(jobsWhileOpen)).toEqual([]);
    await t1.commit();
    expect(await planAndComplete()).toEqual([...nested, ...later].map((event) => event.id));
  });

  it('is only delayed by a long-running transaction that writes nothing here, even in another database', async () => {
    const other = new Client({ connectionString: `${process.env.TEST_POSTGRES_SERVER}/postgres` });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_current_xact_id()'); // a writing transaction: it has an id
      const events = [record(), record(), record()];
      await ingestCommitted(events);
      expect(await planAndComplete(jobsWhileOpen)).toEqual([]);
      await other.query('COMMIT');
      expect(await planAndComplete()).toEqual(events.map((event) => event.id));
    } finally {
      await other.end();
    }
  });

  it('exports every event exactly once under many concurrent writers that commit out of order', async () => {
    const written: string[] = [];
    const writers = Array.from({ length: 16 }, async (_, index) => {
      const transaction = await begin();
      const events = [record(), record(), record()];
      await transaction.insert(events);
      await new Promise((resolve) => setTimeout(resolve, ((index * 7) % 5) * 40));
      if (index % 5 === 4) {
        await transaction.rollback();
        return;
      }
      await transaction.commit();
      written.push(...events.map((event) => event.id));
    });
    const exported: string[] = [];
    let writing = true;
    const all = Promise.all(writers).finally(() => (writing = false));
    while (writing) exported.push(...(await planAndComplete(jobsWhileOpen)));
    await all;
    exported.push(...(await planAndComplete()));
    expect(new Set(exported).size).toBe(exported.length);
    expect([...exported].sort()).toEqual([...written].sort());
    // In the order of the sequence: each plan ended below anything a later one found.
    const rows = await db.query<{ id: string; s: string }>('SELECT id::text, sequence::text AS s FROM audit_events WHERE id = ANY($1::uuid[])', [exported]);
    const sequenceById = new Map(rows.map((row) => [row.id, Number(row.s)]));
    const sequences = exported.map((id) => sequenceById.get(id) as number);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
  });

  it('reads the final sequence as the highest one below which no transaction is in flight', async () => {
    const watermark = new AuditEventWatermarkRepository(db.prisma);
    await ingestCommitted([record()]);
    await watermark.advance(30_000);
    const settled = await watermark.finalSequence();
    const t1 = await begin();
    await t1.insert([record()]);
    await ingestCommitted([record()]);
    expect(await watermark.advance(50)).toBe(false);
    expect(await watermark.finalSequence()).toBe(settled);
    await t1.commit();
    expect(await watermark.advance(30_000)).toBe(true);
    const [{ max }] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
    expect(await watermark.finalSequence()).toBe(BigInt(max));
  });
});
