import { Client } from 'pg';

/** Drops every database this run created (the template and each file's clone). */
export default async function globalTeardown(): Promise<void> {
  const server = process.env.TEST_POSTGRES_SERVER;
  const runId = process.env.TEST_RUN_ID;
  if (!server || !runId) return;
  const admin = new Client({ connectionString: `${server}/postgres` });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`audit_export_test_${runId}_%`]);
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}
