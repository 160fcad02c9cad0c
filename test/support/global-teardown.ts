import { Redis } from 'ioredis';
import { Client } from 'pg';

/**
 * Runs once after the suite: drops every database this run created (the template and each file's
 * clone), then deletes every Redis key under this run's BULLMQ_PREFIX and fails the run if there
 * were any. Tests obliterate their queues; a key left behind is a leak that would pile up on a
 * shared Redis, so it is caught here. The keys are deleted before the failure is reported, so a
 * test that failed midway leaves nothing behind either.
 */
export default async function globalTeardown(): Promise<void> {
  try {
    await dropDatabases();
  } finally {
    await removeRedisKeys();
  }
}

async function dropDatabases(): Promise<void> {
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

/** Deletes the run's keys (`<prefix>:...` and the per-test `<prefix>-<name>-...:...`); throws, listing them, if there were any. */
async function removeRedisKeys(): Promise<void> {
  const prefix = process.env.BULLMQ_PREFIX;
  // Set by global-setup with the run id in it; without it there is nothing of this run's to find.
  if (!prefix || !process.env.TEST_RUN_ID) return;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  const left: string[] = [];
  try {
    await redis.connect();
    // SCAN, not KEYS: the Redis is shared with other runs and must not be blocked.
    for await (const batch of redis.scanStream({ match: `${escapeGlob(prefix)}*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (batch.length === 0) continue;
      left.push(...batch);
      await redis.unlink(...batch);
    }
  } finally {
    redis.disconnect();
  }
  if (left.length === 0) return;
  // One line per queue (the key up to the queue name), so the list names the tests that leaked.
  const queues = new Map<string, number>();
  for (const key of left) {
    const queue = key.split(':').slice(0, 2).join(':');
    queues.set(queue, (queues.get(queue) ?? 0) + 1);
  }
  const lines = [...queues].sort().map(([queue, count]) => `  ${queue}:* (${count} key${count === 1 ? '' : 's'})`);
  const sample = left
    .sort()
    .slice(0, 20)
    .map((key) => `    ${key}`);
  throw new Error(
    `Tests left ${left.length} Redis key(s) under ${prefix}* (now deleted); obliterate the queues a test creates:\n${lines.join('\n')}\n  keys:\n${sample.join('\n')}`,
  );
}

/** Escapes Redis glob characters, so the prefix matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
