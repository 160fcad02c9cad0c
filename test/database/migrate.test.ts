import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { MIGRATIONS_DIR, migrate } from '../../src/database/migrate';
import { createPrismaClient } from '../../src/database/prisma';
import { ExportInterval } from '../../src/generated/prisma/enums';

const server = () => process.env.TEST_POSTGRES_SERVER as string;

async function dropDatabase(name: string): Promise<void> {
  const admin = new Client({ connectionString: `${server()}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
}

describe("migrate (the project's stand-in for `prisma migrate deploy`)", () => {
  const name = `audit_export_test_${process.env.TEST_RUN_ID}_${randomBytes(4).toString('hex')}`;
  const url = () => `${server()}/${name}`;
  afterAll(() => dropDatabase(name));

  it('creates a missing database, applies every migration once, and records it as Prisma does', async () => {
    const first = await migrate(url());
    expect(first.databaseCreated).toBe(true);
    expect(first.applied.length).toBeGreaterThan(0);

    const again = await migrate(url());
    expect(again.databaseCreated).toBe(false);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toEqual(first.applied);

    const client = new Client({ connectionString: url() });
    await client.connect();
    const { rows } = await client.query('SELECT migration_name, checksum, finished_at, applied_steps_count, rolled_back_at FROM "_prisma_migrations" ORDER BY migration_name');
    await client.end();
    expect(rows.map((row) => row.migration_name)).toEqual(first.applied);
    for (const row of rows) {
      const sql = await readFile(join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      // Prisma's checksum is the SHA-256 of the migration file: `prisma migrate deploy` must agree.
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.applied_steps_count).toBe(1);
      expect(row.rolled_back_at).toBeNull();
    }
  });

  it('matches the Prisma schema: every model reads and writes through the generated client', async () => {
    const prisma = createPrismaClient(url());
    try {
      // findFirst selects every scalar column of a model: a column missing from the SQL fails here.
      await Promise.all([
        prisma.user.findFirst(),
        prisma.apiKey.findFirst(),
        prisma.exportConfiguration.findFirst(),
        prisma.auditEvent.findFirst(),
        prisma.exportJob.findFirst(),
        prisma.exportJobTask.findFirst(),
      ]);
      for (const interval of Object.values(ExportInterval)) {
        await prisma.exportConfiguration.create({
          data: {
            id: crypto.randomUUID(),
            interval,
            connectionStatus: 'SUCCESS',
            endpointType: 'S3_ASSUMED_ROLE',
            bucket: 'b-ucket',
            region: 'us-east-1',
            roleArn: 'arn:aws:iam::111122223333:role/r',
          },
        });
      }
      expect(await prisma.exportConfiguration.count()).toBe(Object.values(ExportInterval).length);
    } finally {
      await prisma.$disconnect();
    }
  });

  it('turns integrity validation off for configurations that existed before digests, and on by default for new ones', async () => {
    const before = `${name}_digests`;
    const beforeUrl = `${server()}/${before}`;
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    for (const entry of await readdir(dir)) if (entry >= '20261201130100') await rm(join(dir, entry), { recursive: true });
    try {
      await migrate(beforeUrl, dir);
      const client = new Client({ connectionString: beforeUrl });
      await client.connect();
      try {
        const existing = crypto.randomUUID();
        await client.query(
          `INSERT INTO export_configurations (id, interval, connection_status, endpoint_type, bucket, region, role_arn, updated_at) VALUES ($1, 'EVERY_2_HOURS', 'SUCCESS', 'S3_ASSUMED_ROLE', 'b-ucket', 'us-east-1', 'arn:aws:iam::111122223333:role/r', now())`,
          [existing],
        );
        await migrate(beforeUrl);
        const created = crypto.randomUUID();
        await client.query(
          `INSERT INTO export_configurations (id, interval, connection_status, endpoint_type, bucket, region, role_arn, updated_at) VALUES ($1, 'EVERY_2_HOURS', 'SUCCESS', 'S3_ASSUMED_ROLE', 'b-ucket', 'us-east-1', 'arn:aws:iam::111122223333:role/r', now())`,
          [created],
        );
        const { rows } = await client.query('SELECT id, integrity_validation FROM export_configurations');
        expect(Object.fromEntries(rows.map((row) => [row.id, row.integrity_validation]))).toEqual({ [existing]: false, [created]: true });
      } finally {
        await client.end();
      }
    } finally {
      await dropDatabase(before);
    }
  });

  it('turns audit_events into a partitioned table, carrying every row and every column, also columns it does not know', async () => {
    const before = `${name}_partitions`;
    const beforeUrl = `${server()}/${before}`;
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    for (const entry of await readdir(dir)) if (entry >= '20261201190000') await rm(join(dir, entry), { recursive: true });
    try {
      await migrate(beforeUrl, dir);
      const client = new Client({ connectionString: beforeUrl });
      await client.connect();
      try {
        // What another migration before this one may add: a plain nullable column.
        await client.query('ALTER TABLE audit_events ADD COLUMN tenant_hint text');
        await client.query('CREATE INDEX audit_events_tenant_hint_idx ON audit_events (tenant_hint)');
        const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
        for (const [index, id] of ids.entries()) {
          await client.query(`INSERT INTO audit_events (id, action, event_timestamp, received_timestamp, body, tenant_hint) VALUES ($1, 'QUERY', now(), now(), $2::json, $3)`, [
            id,
            `{"id": "${id}",  "n": ${index}}`,
            `t${index}`,
          ]);
        }
        await migrate(beforeUrl);
        const { rows } = await client.query(`SELECT sequence::int, id::text, body::text, tenant_hint, tableoid::regclass::text AS part FROM audit_events ORDER BY sequence`);
        expect(rows).toEqual(
          ids.map((id, index) => ({ sequence: index + 1, id, body: `{"id": "${id}",  "n": ${index}}`, tenant_hint: `t${index}`, part: 'audit_events_0000000000000000000' })),
        );
        const { rows: indexes } = await client.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_events' AND indexname = 'audit_events_tenant_hint_idx'`);
        expect(indexes).toEqual([{ indexdef: 'CREATE INDEX audit_events_tenant_hint_idx ON ONLY public.audit_events USING btree (tenant_hint)' }]);
        const { rows: claimed } = await client.query('SELECT id::text FROM audit_event_ids ORDER BY id');
        expect(claimed.map((row) => row.id)).toEqual([...ids].sort());
        // The sequence goes on, into the default partition until the service makes partitions ahead.
        const { rows: next } = await client.query(
          `INSERT INTO audit_events (id, action, event_timestamp, received_timestamp, body) VALUES ($1, 'QUERY', now(), now(), '{}') RETURNING sequence::int, tableoid::regclass::text AS part`,
          [crypto.randomUUID()],
        );
        expect(next).toEqual([{ sequence: 4, part: 'audit_events_default' }]);
        // The migration's watermark tick covers the events it copied.
        const { rows: ticks } = await client.query('SELECT sequence::int FROM audit_event_watermarks');
        expect(ticks).toEqual([{ sequence: 3 }]);
      } finally {
        await client.end();
      }
    } finally {
      await dropDatabase(before);
    }
  });

  it('refuses a migration that was edited after it was applied, and rolls back a failing one whole', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const [firstName] = (await migrate(url(), dir)).alreadyApplied;
    const firstFile = join(dir, firstName, 'migration.sql');
    await writeFile(firstFile, (await readFile(firstFile, 'utf8')) + '\n-- edited\n');
    await expect(migrate(url(), dir)).rejects.toThrow(/was changed after it was applied/);

    const brokenDir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await cp(MIGRATIONS_DIR, brokenDir, { recursive: true });
    await cp(join(MIGRATIONS_DIR, firstName), join(brokenDir, '99991231000000_broken'), { recursive: true });
    await writeFile(join(brokenDir, '99991231000000_broken', 'migration.sql'), 'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n');
    await expect(migrate(url(), brokenDir)).rejects.toThrow(/99991231000000_broken failed/);
    const client = new Client({ connectionString: url() });
    await client.connect();
    const halfDone = await client.query(`SELECT to_regclass('half_done') AS t`);
    const recorded = await client.query(`SELECT 1 FROM "_prisma_migrations" WHERE migration_name = '99991231000000_broken'`);
    await client.end();
    expect(halfDone.rows[0].t).toBeNull();
    expect(recorded.rowCount).toBe(0);
  });
});
