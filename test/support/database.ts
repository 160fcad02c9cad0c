import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createPrismaClient, type PrismaClient } from '../../src/database/prisma';

export interface TestDatabase {
  url: string;
  prisma: PrismaClient;
  /** Runs raw SQL, for assertions on what is really stored. */
  query<Row extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database of its own for one test file: a clone of the run's template
 * (see global-setup.ts). Call `drop()` in afterAll.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const server = requireEnv('TEST_POSTGRES_SERVER');
  const name = `audit_export_test_${requireEnv('TEST_RUN_ID')}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: `${server}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${requireEnv('TEST_TEMPLATE_DATABASE')}"`);
  } finally {
    await admin.end();
  }
  const url = `${server}/${name}`;
  const prisma = createPrismaClient(url);
  const raw = new Client({ connectionString: url });
  await raw.connect();
  return {
    url,
    prisma,
    async query(sql, params) {
      return (await raw.query(sql, params as unknown[])).rows;
    },
    async drop() {
      await prisma.$disconnect();
      await raw.end();
      const cleanup = new Client({ connectionString: `${server}/postgres` });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await cleanup.end();
    },
  };
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through jest (test/support/global-setup.ts)`);
  return value;
}
