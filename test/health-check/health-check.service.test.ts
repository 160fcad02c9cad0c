import { randomUUID } from 'node:crypto';
import { createLogger } from '../../src/common/logger';
import { createPrismaClient, type PrismaClient } from '../../src/database/prisma';
import { healthCheckDelayMs } from '../../src/health-check/health-check.backoff';
import { HealthCheckRepository, type HealthCheckCandidate } from '../../src/health-check/health-check.repository';
import { HealthCheckService, type ConnectionTester } from '../../src/health-check/health-check.service';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The health check's claim/record SQL against real PostgreSQL. The connection test is replaced by
 * a scripted tester here (the real one, against the sandbox, runs in test/cli/iam-role-walkthrough):
 * what is at risk in this file is which rows are claimed, by whom, and what is written back.
 */

const logger = createLogger('silent');
const PERIOD = 1_000;
const CAP = 5_000;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  await db.query('DELETE FROM export_configurations');
});

async function insertConfiguration(fields: { connectionStatus?: string; enabled?: boolean; nextHealthCheckAt?: Date | null; failures?: number } = {}): Promise<string> {
  const id = randomUUID();
  await db.prisma.exportConfiguration.create({
    data: {
      id,
      interval: 'EVERY_12_HOURS',
      enabled: fields.enabled ?? true,
      connectionStatus: fields.connectionStatus ?? 'Error testing access to S3 using AssumedRole arn:aws:iam::111122223333:role/r - denied',
      endpointType: 'S3_ASSUMED_ROLE',
      bucket: 'your-s3-bucket',
      region: 'us-east-1',
      roleArn: 'arn:aws:iam::111122223333:role/r',
      nextHealthCheckAt: fields.nextHealthCheckAt ?? null,
      healthCheckFailures: fields.failures ?? 0,
    },
  });
  return id;
}

function scriptedTester(results: boolean[], onTest?: (target: HealthCheckCandidate) => Promise<void>): ConnectionTester & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async test(target) {
      calls.push(target.id);
      await onTest?.(target);
      const ok = results.shift() ?? false;
      return { ok, status: ok ? 'SUCCESS' : 'Error testing access to S3 using AssumedRole x - still denied', testedAt: new Date() };
    },
  };
}

test('backoff: the period after the first failure, doubling, capped', () => {
  expect([1, 2, 3, 4, 5, 50].map((failures) => healthCheckDelayMs(failures, PERIOD, CAP))).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
  expect(healthCheckDelayMs(1, 1000, 10)).toBe(1000);
});

test('claims only enabled, failing configurations that are due (null counts as due)', async () => {
  const now = new Date();
  const dueNull = await insertConfiguration();
  const duePast = await insertConfiguration({ nextHealthCheckAt: new Date(now.getTime() - 1000) });
  await insertConfiguration({ nextHealthCheckAt: new Date(now.getTime() + 60_000) });
  await insertConfiguration({ connectionStatus: 'SUCCESS' });
  await insertConfiguration({ enabled: false });

  const claimed = await new HealthCheckRepository(db.prisma).claimDue(now, 10, 30_000);

  expect(claimed.map((row) => row.id).sort()).toEqual([dueNull, duePast].sort());
  // The claim leased the rows: nobody sees them as due until the lease ends.
  const again = await new HealthCheckRepository(db.prisma).claimDue(now, 10, 30_000);
  expect(again).toEqual([]);
  const [row] = await db.query<{ next_health_check_at: Date }>('SELECT next_health_check_at FROM export_configurations WHERE id = $1', [dueNull]);
  expect(row!.next_health_check_at.getTime()).toBe(now.getTime() + 30_000);
});

test('concurrent claimers from separate connections never take the same row', async () => {
  const ids = await Promise.all(Array.from({ length: 12 }, () => insertConfiguration()));
  const clients: PrismaClient[] = [createPrismaClient(db.url), createPrismaClient(db.url), createPrismaClient(db.url)];
  try {
    const now = new Date();
    const results = await Promise.all(clients.map((client) => new HealthCheckRepository(client).claimDue(now, 5, 30_000)));
    const claimed = results.flat().map((row) => row.id);
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.sort()).toEqual([...ids].sort());
  } finally {
    await Promise.all(clients.map((client) => client.$disconnect()));
  }
});

test('a failing configuration is re-tested with exponential backoff, then recovers', async () => {
  const id = await insertConfiguration();
  const tester = scriptedTester([false, false, true]);
  let clock = new Date();
  const service = new HealthCheckService(new HealthCheckRepository(db.prisma), tester, { periodMs: PERIOD, maxBackoffMs: CAP, leaseMs: 10_000 }, logger, () => clock);
  const read = async () =>
    (
      await db.query<{ connection_status: string; health_check_failures: number; next_health_check_at: Date | null; last_tested_at: Date | null }>(
        'SELECT connection_status, health_check_failures, next_health_check_at, last_tested_at FROM export_configurations WHERE id = $1',
        [id],
      )
    )[0]!;

  expect(await service.runOnce()).toEqual({ tested: 1, recovered: 0, stillFailing: 1, stale: 0 });
  let row = await read();
  expect(row.health_check_failures).toBe(1);
  expect(row.next_health_check_at!.getTime() - row.last_tested_at!.getTime()).toBe(PERIOD);

  // Not due yet: nothing happens.
  expect((await service.runOnce()).tested).toBe(0);

  clock = new Date(row.next_health_check_at!.getTime() + 1);
  await service.runOnce();
  row = await read();
  expect(row.health_check_failures).toBe(2);
  expect(row.next_health_check_at!.getTime() - row.last_tested_at!.getTime()).toBe(2 * PERIOD);

  clock = new Date(row.next_health_check_at!.getTime() + 1);
  expect(await service.runOnce()).toEqual({ tested: 1, recovered: 1, stillFailing: 0, stale: 0 });
  row = await read();
  expect(row).toMatchObject({ connection_status: 'SUCCESS', health_check_failures: 0, next_health_check_at: null });
  expect(tester.calls).toEqual([id, id, id]);

  // Healthy configurations are left alone.
  clock = new Date(clock.getTime() + 10 * CAP);
  expect((await service.runOnce()).tested).toBe(0);
});

test('a result is dropped when the configuration changed while it was being tested', async () => {
  const id = await insertConfiguration();
  const tester = scriptedTester([true], async () => {
    // A user updates the configuration (a new version) while the old settings are tested.
    await db.prisma.exportConfiguration.update({
      where: { id },
      data: { connectionStatus: 'Error testing access to S3 using AssumedRole new - denied', version: { increment: 1 } },
    });
  });
  const service = new HealthCheckService(new HealthCheckRepository(db.prisma), tester, { periodMs: PERIOD, maxBackoffMs: CAP, leaseMs: 10_000 }, logger);

  expect(await service.runOnce()).toEqual({ tested: 1, recovered: 0, stillFailing: 0, stale: 1 });
  const [row] = await db.query<{ connection_status: string }>('SELECT connection_status FROM export_configurations WHERE id = $1', [id]);
  expect(row!.connection_status).toBe('Error testing access to S3 using AssumedRole new - denied');
});
