import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { migrate } from '../../src/database/migrate';
import { buildWebAssets } from '../../src/web/web-assets';

/**
 * Runs once before the suite: migrates a template database for this run. Each test file clones
 * it (test/support/database.ts), so files running in parallel never see each other's rows, and
 * several runs (developers, CI) can share one PostgreSQL server.
 */
export default async function globalSetup(): Promise<void> {
  const server = process.env.TEST_POSTGRES_URL ?? 'postgresql://root@127.0.0.1:5432';
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const templateName = `audit_export_test_${runId}_tpl`;
  await migrate(`${server}/${templateName}`);
  // The status page and GraphiQL bundle (dist/web, not in git), fresh for every run.
  await buildWebAssets();
  // Nobody may stay connected to a template, or CREATE DATABASE ... TEMPLATE fails.
  const admin = new Client({ connectionString: `${server}/postgres` });
  await admin.connect();
  await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [templateName]);
  await admin.end();

  // Workers inherit this process's environment.
  process.env.TEST_POSTGRES_SERVER = server;
  process.env.TEST_RUN_ID = runId;
  process.env.TEST_TEMPLATE_DATABASE = templateName;
  process.env.NODE_ENV = 'test';
  process.env.DATABASE_URL = `${server}/${templateName}`;
  process.env.BULLMQ_PREFIX = `audit-export-test-${runId}`;
  process.env.SECRET_ENCRYPTION_KEY = randomBytes(32).toString('base64');
  process.env.LOG_LEVEL = process.env.LOG_LEVEL ?? 'silent';
  // The AWS SDK's nine-line Node version warning, once per test file on Node 20, through its
  // documented switch (src/common/node-version.ts); an explicit setting is kept.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? 'true';
}
