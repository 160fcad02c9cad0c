import { Pool } from 'pg';
import { createLogger } from '../../src/common/logger';
import { ExportJobRepository, RunLockLostError } from '../../src/export-job/export-job.repository';
import { ingestEvents } from '../export-job/export-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(60_000);

/**
 * The two connections an export run holds across awaits, each losing its session the way a
 * PostgreSQL restart or failover ends it (pg_terminate_backend: 57P01). Neither may end the process
 * (an unhandled 'error' event would end this test's worker), and neither may leave the run waiting.
 */
describe('export run connections whose PostgreSQL session ends', () => {
  let db: TestDatabase;
  let pool: Pool;
  let repository: ExportJobRepository;
  const logs: string[] = [];
  const poolErrors: Error[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 4 });
    pool.on('error', (error) => poolErrors.push(error));
    repository = new ExportJobRepository(db.prisma, pool, createLogger('warn', 'test', { write: (line: string) => void logs.push(line) }));
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  /** Terminates the sessions of this test's database whose current or last query starts with `queryPrefix`. */
  async function terminate(queryPrefix: string): Promise<number> {
    const rows = await db.query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE $1`,
      [`${queryPrefix}%`],
    );
    return rows.filter((row) => row.terminated).length;
  }

  it('a lost run lock is noted and logged, assertHeld says so, release() is safe, and the lock is free again', async () => {
    const configurationId = '3f8e2b1c-0000-4000-8000-000000000001';
    const lock = (await repository.tryLockConfiguration(configurationId))!;
    expect(lock).toBeDefined();
    await expect(lock.assertHeld()).resolves.toBeUndefined();
    // Its last query was assertHeld's ping.
    expect(await terminate('SELECT 1')).toBe(1);

    await expect(lock.assertHeld()).rejects.toBeInstanceOf(RunLockLostError);
    expect(logs.join('\n')).toContain('export run lock lost');
    await expect(lock.release()).resolves.toBeUndefined();
    await expect(lock.release()).resolves.toBeUndefined();

    // PostgreSQL freed the lock with the session: the next run may take it.
    const next = await repository.tryLockConfiguration(configurationId);
    expect(next).toBeDefined();
    await next!.release();
  });

  it('a streaming cursor whose session ends mid-stream fails at once instead of waiting forever', async () => {
    await ingestEvents(db.prisma, 3_000);
    const [range] = await db.query<{ min: string; max: string }>('SELECT (min(sequence) - 1)::text AS min, max(sequence)::text AS max FROM audit_events');
    const { rows, release } = await repository.streamEventBodies(BigInt(range.min), BigInt(range.max), 100);

    let read = 0;
    const reading = (async () => {
      for await (const _row of rows) {
        read += 1;
        if (read === 250) expect(await terminate('SELECT body::text')).toBe(1);
        // A slow consumer, so that later batches are still to come when the session ends.
        if (read > 250) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      reading.then(
        () => 'ended',
        (error: Error) => error,
      ),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still waiting after 5 s'), 5_000))),
    ]);
    clearTimeout(timer);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error & { code?: string }).message).toMatch(/terminat|ECONNRESET|Connection terminated/);
    expect(read).toBeLessThan(3_000);
    release(outcome as Error);

    // The pool hands out a working connection afterwards: the same range streams whole.
    const again = await repository.streamEventBodies(BigInt(range.min), BigInt(range.max), 100);
    let count = 0;
    for await (const _row of again.rows) count += 1;
    again.release();
    expect(count).toBe(3_000);
  });
});
