import { randomUUID } from 'node:crypto';
import { AuditEventRepository } from '../../src/audit-event/audit-event.repository';
import { AuditEventService, IngestRejectedError } from '../../src/audit-event/audit-event.service';
import { PrismaSelfAuditRecorder } from '../../src/audit-event/self-audit.recorder';
import { createTestDatabase, type TestDatabase } from '../support/database';

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: randomUUID(),
    action: 'QUERY',
    actionStatus: 'SUCCESS',
    eventTimestamp: '2026-01-02T03:04:05.678Z',
    actor: { type: 'USER', id: 'alice@example.com', name: 'Alice' },
    targets: [{ type: 'DATASOURCE', id: '42', name: 'sales' }],
    auditPayload: { type: 'DatabricksQueryAuditPayload', version: 1, query: 'select 1' },
    ...overrides,
  };
}

const ndjson = (events: unknown[]): string => events.map((value) => JSON.stringify(value)).join('\n') + '\n';

describe('audit event store', () => {
  let db: TestDatabase;
  let repository: AuditEventRepository;
  let service: AuditEventService;

  beforeAll(async () => {
    db = await createTestDatabase();
    repository = new AuditEventRepository();
    service = new AuditEventService(db.prisma, repository);
  });
  afterAll(async () => db.drop());
  beforeEach(async () => {
    await db.query('TRUNCATE audit_events, audit_event_ids');
  });

  it('stores NDJSON events in request order with receivedTimestamp set on arrival', async () => {
    const events = [event(), event({ receivedTimestamp: '1999-01-01T00:00:00Z' }), event()];
    const before = Date.now();
    await expect(service.ingest(ndjson(events), 'ndjson')).resolves.toEqual({ accepted: 3, duplicates: 0 });
    const rows = await db.query<{ id: string; body: Record<string, unknown> }>('SELECT id, body FROM audit_events ORDER BY sequence');
    expect(rows.map((row) => row.id)).toEqual(events.map((value) => value.id));
    for (const row of rows) {
      const received = Date.parse(row.body.receivedTimestamp as string);
      expect(received).toBeGreaterThanOrEqual(before - 5);
      expect(received).toBeLessThanOrEqual(Date.now());
    }
    expect(rows[0].body.auditPayload).toEqual(events[0].auditPayload);
  });

  it('accepts a JSON array', async () => {
    await expect(service.ingest(JSON.stringify([event(), event()]), 'json')).resolves.toEqual({ accepted: 2, duplicates: 0 });
  });

  it('refuses a request with a bad line as a whole, listing the bad lines (1-based) and why', async () => {
    const body = [JSON.stringify(event()), '{not json', JSON.stringify(event({ id: 'nope', eventTimestamp: 'yesterday' })), JSON.stringify(event())].join('\n');
    const error = await service.ingest(body, 'ndjson').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(IngestRejectedError);
    const rejected = error as IngestRejectedError;
    expect(rejected.code).toBe('BAD_USER_INPUT');
    const lines = rejected.details.lines as Array<{ line: number; errors: string[] }>;
    expect(lines.map((line) => line.line)).toEqual([2, 3]);
    expect(lines[0].errors[0]).toMatch(/not valid JSON/);
    expect(lines[1].errors.join(' ')).toMatch(/^id: .*eventTimestamp: /);
    expect(await db.query('SELECT 1 FROM audit_events')).toHaveLength(0);
  });

  it('refuses events missing a required field', async () => {
    const { action: _action, ...withoutAction } = event();
    await expect(service.ingest(ndjson([withoutAction]), 'ndjson')).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      details: { lines: [{ line: 1, errors: [expect.stringMatching(/^action: /)] }] },
    });
  });

  it('stores a duplicate event id once and counts it, within a request and across requests', async () => {
    const first = event();
    await expect(service.ingest(ndjson([first, first, event()]), 'ndjson')).resolves.toEqual({ accepted: 2, duplicates: 1 });
    await expect(service.ingest(ndjson([event(), { ...first, action: 'DELETE' }]), 'ndjson')).resolves.toEqual({ accepted: 1, duplicates: 1 });
    const rows = await db.query<{ action: string }>('SELECT action FROM audit_events WHERE id = $1', [first.id]);
    expect(rows).toEqual([{ action: 'QUERY' }]);
    expect(await db.query('SELECT 1 FROM audit_events')).toHaveLength(3);
  });

  it('records self-audit events as UAM events in the caller transaction', async () => {
    const recorder = new PrismaSelfAuditRecorder(repository, 'tenant-1');
    const actor = { userId: randomUUID(), userName: 'admin', apiKeyId: randomUUID() };
    await db.prisma.$transaction(async (tx) => {
      await recorder.record(tx, {
        action: 'CREATE',
        type: 'ExportConfigurationCreated',
        actor,
        targetType: 'EXPORT_CONFIGURATION',
        targets: [{ type: 'EXPORT_CONFIGURATION', id: 'c1' }],
        payload: { interval: 'EVERY_2_HOURS' },
      });
    });
    // A rolled-back change leaves no audit event behind.
    await db.prisma
      .$transaction(async (tx) => {
        await recorder.record(tx, { action: 'DELETE', type: 'ExportConfigurationDeleted', actor, targetType: 'EXPORT_CONFIGURATION', targets: [], payload: {} });
        throw new Error('rollback');
      })
      .catch(() => undefined);
    const rows = await db.query<{ body: Record<string, any> }>('SELECT body FROM audit_events');
    expect(rows).toHaveLength(1);
    expect(rows[0].body).toMatchObject({
      action: 'CREATE',
      actionStatus: 'SUCCESS',
      actor: { type: 'USER', id: actor.userId, name: 'admin' },
      tenantId: 'tenant-1',
      targets: [{ type: 'EXPORT_CONFIGURATION', id: 'c1' }],
      auditPayload: { type: 'ExportConfigurationCreatedAuditPayload', version: 1, interval: 'EVERY_2_HOURS' },
    });
    expect(typeof rows[0].body.receivedTimestamp).toBe('string');
  });

  it('stores each id once when concurrent batches, committing out of order, share ids (no lock serialises them)', async () => {
    // Ingestion takes no global lock any more (docs/delivery-guarantees.md); the id claim in
    // audit_event_ids is what keeps two transactions from storing one id twice.
    const shared = Array.from({ length: 20 }, () => event());
    const records = (values: Record<string, unknown>[]) =>
      values.map((value) => ({ id: value.id as string, action: 'QUERY', eventTimestamp: new Date(), receivedTimestamp: new Date(), body: value }));
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        db.prisma.$transaction(
          async (tx) => {
            const own = [event(), event()];
            const result = await repository.insertMany(tx, records([...own, ...shared.slice(index % 3), ...own]));
            // Hold the transaction open a while, longer for the earlier writers.
            await tx.$executeRawUnsafe(`SELECT pg_sleep(${((8 - index) % 4) * 0.02})`);
            return result;
          },
          { timeout: 20_000, maxWait: 20_000 },
        ),
      ),
    );
    const ids = (await db.query<{ id: string }>('SELECT id FROM audit_events')).map((row) => row.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(20 + 8 * 2);
    expect(results.reduce((sum, result) => sum + result.inserted, 0)).toBe(ids.length);
    expect(await db.query('SELECT 1 FROM audit_event_ids')).toHaveLength(ids.length);
  });
});
