import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';

/**
 * Seeds the bench database: `tsx test/bench/export-bench.seed.ts <database url> <count>`.
 * Run as a child process of the bench, so that generating a million rows never shows in the
 * memory of the process that measures, nor of the exporter.
 */

/**
 * One realistic UAM event as a producer sends it (about 650 bytes of JSON), `receivedTimestamp`
 * left to the service. Shared by the seeder (below), the ingest section (its HTTP batches) and the
 * store-size section (its old events are the same shape, built in SQL).
 */
export function benchEvent(index: number): Record<string, unknown> {
  const user = index % 997;
  return {
    id: randomUUID(),
    action: index % 5 === 0 ? 'UPDATE' : 'QUERY',
    actionStatus: index % 50 === 0 ? 'FAILURE' : 'SUCCESS',
    actor: { type: 'USER', id: `user${user}@example.com`, name: `User ${user}`, identityProvider: 'bim' },
    actorIp: `10.${index % 250}.${(index >> 8) % 250}.${(index * 7) % 250}`,
    eventTimestamp: new Date(Date.UTC(2026, 0, 1) + index * 37).toISOString(),
    tenantId: 'tenant-4a2b9c',
    targetType: 'DATASOURCE',
    targets: [{ type: 'DATASOURCE', id: String(index % 5000), name: `analytics.sales_${index % 5000}`, technology: 'Snowflake' }],
    auditPayload: {
      type: 'DatabricksQueryAuditPayload',
      version: 1,
      queryId: randomUUID(),
      query: `SELECT region, sum(amount) FROM sales_${index % 5000} GROUP BY region`,
      rowsProduced: index % 5000,
    },
    requestId: randomUUID(),
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/128.0',
  };
}

/**
 * A stored event as a COPY text row (tab-separated; backslashes doubled as COPY text wants): the
 * body is the event with its receivedTimestamp, as the service stores it.
 */
export function copyRow(index: number, received: string): string {
  const event = benchEvent(index);
  const { id, action, eventTimestamp } = event as { id: string; action: string; eventTimestamp: string };
  const body = JSON.stringify({ ...event, receivedTimestamp: received });
  return `${id}\t${action}\t${eventTimestamp}\t${received}\t${body.replace(/\\/g, '\\\\')}\n`;
}

/**
 * COPYs `count` events through psql, in one transaction. No lock is needed (the sequence's default
 * gives the transaction its id before it draws: docs/delivery-guarantees.md); the ids are claimed in
 * audit_event_ids as AuditEventRepository does, so the store stays deduplicated.
 */
export async function seedEvents(url: string, count: number): Promise<void> {
  const psql = spawn('psql', ['-q', '-v', 'ON_ERROR_STOP=1', url], { stdio: ['pipe', 'ignore', 'inherit'] });
  const write = async (text: string) => {
    if (!psql.stdin.write(text)) await once(psql.stdin, 'drain');
  };
  await write(`BEGIN;\nCOPY audit_events (id, action, event_timestamp, received_timestamp, body) FROM STDIN;\n`);
  const received = new Date().toISOString();
  let chunk = '';
  for (let index = 0; index < count; index += 1) {
    chunk += copyRow(index, received);
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(`${chunk}\\.\nINSERT INTO audit_event_ids (id) SELECT id FROM audit_events ON CONFLICT (id) DO NOTHING;\nCOMMIT;\nVACUUM (ANALYZE) audit_events;\n`);
  psql.stdin.end();
  const [code] = (await once(psql, 'exit')) as [number];
  if (code !== 0) throw new Error(`psql COPY failed (exit ${code})`);
}

if (require.main === module) {
  const [url, count] = process.argv.slice(2);
  seedEvents(url, Number(count)).catch((error: unknown) => {
    process.stderr.write(`seeding failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
