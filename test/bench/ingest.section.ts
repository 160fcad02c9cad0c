import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startBenchApp } from './bench-app';
import { closedLoop } from './bench-load';
import { emitRow, parseBenchFlags, quantile, round, say } from './bench-row';
import { createBenchDatabase } from './export-bench.run';
import { benchEvent, copyRow } from './export-bench.seed';

/**
 * Section `ingest` of `npm run bench`: POST /api/audit/events (the real endpoint,
 * src/audit-event/audit-event.router.ts) with 1,000-event NDJSON batches from 1, 4 and 16
 * concurrent clients, each sending its next batch when the last is answered; events/s and p50/p99
 * per batch. The reference is a plain `COPY ... FROM STDIN` (psql) of as many lines of the same
 * events into the same table, with nothing else running.
 *
 * 96 batches per level (32 with --quick), so every client sends the same number at 1, 4 and 16.
 * The batches are built before the clock starts; the API runs in its own process (bench-app.ts).
 * Targets from issue #11: >= 0.8 x COPY at 4 and 16 clients, 16 clients not slower than 4, p99 of
 * a batch <= 250 ms at 16 clients.
 */
const SECTION = 'ingest';
const BATCH = 1_000;
const LEVELS = [1, 4, 16];
const RATIO_TARGET = 0.8;
const P99_TARGET_MS = 250;

let nextIndex = 0;
function batches(count: number): string[] {
  return Array.from({ length: count }, () => Array.from({ length: BATCH }, () => JSON.stringify(benchEvent((nextIndex += 1)))).join('\n'));
}

/** COPY of `count` fresh events (same generator, same size) into audit_events through psql; events/s. */
async function copyReference(url: string, count: number): Promise<number> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'audit-export-bench-ingest-'));
  try {
    const file = path.join(directory, 'events.copy');
    const received = new Date().toISOString();
    const lines: string[] = [];
    for (let index = 0; index < count; index += 1) lines.push(copyRow((nextIndex += 1), received));
    await writeFile(file, lines.join(''));
    const started = process.hrtime.bigint();
    const psql = spawn('psql', ['-q', '-v', 'ON_ERROR_STOP=1', url, '-c', `\\copy audit_events (id, action, event_timestamp, received_timestamp, body) FROM '${file}'`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const [code] = (await once(psql, 'exit')) as [number];
    if (code !== 0) throw new Error(`COPY reference failed (exit ${code})`);
    return count / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const flags = parseBenchFlags(process.argv);
  const batchesPerLevel = flags.quick ? 32 : 96;
  const database = await createBenchDatabase();
  try {
    const copyPerSecond = await copyReference(database.url, batchesPerLevel * BATCH);
    say(`ingest: COPY reference ${Math.round(copyPerSecond).toLocaleString('en-US')} events/s over ${(batchesPerLevel * BATCH).toLocaleString('en-US')} events`);
    const app = await startBenchApp(database.url);
    const throughput = new Map<number, number>();
    try {
      const headers = { 'content-type': 'application/x-ndjson', authorization: `Bearer ${app.key}` };
      // Warm-up: the first requests compile the code paths and open the pool's connections.
      for (const body of batches(4)) await fetch(`${app.url}/api/audit/events`, { method: 'POST', headers, body }).then((response) => response.text());
      for (const clients of LEVELS) {
        const bodies = batches(batchesPerLevel);
        const result = await closedLoop({
          clients,
          requests: bodies.length,
          send: async (index) => {
            const response = await fetch(`${app.url}/api/audit/events`, { method: 'POST', headers, body: bodies[index] });
            const text = await response.text();
            if (response.status !== 200) throw new Error(`ingest: HTTP ${response.status}: ${text.slice(0, 300)}`);
            const { accepted } = JSON.parse(text) as { accepted: number };
            if (accepted !== BATCH) throw new Error(`ingest: ${accepted} of ${BATCH} events accepted`);
          },
        });
        const perSecond = (result.requests * BATCH) / result.seconds;
        throughput.set(clients, perSecond);
        const ratio = perSecond / copyPerSecond;
        const targeted = clients >= 4;
        emitRow({
          section: SECTION,
          metric: `events/s at ${clients} client${clients === 1 ? '' : 's'}`,
          value: round(perSecond, 0),
          unit: 'events/s',
          reference: 'COPY of the same lines',
          referenceValue: round(copyPerSecond, 0),
          ratio: round(ratio, 2),
          ...(targeted ? { target: `ratio >= ${RATIO_TARGET}`, pass: ratio >= RATIO_TARGET } : {}),
        });
        emitRow({ section: SECTION, metric: `p50 per batch at ${clients} client${clients === 1 ? '' : 's'}`, value: round(quantile(result.latenciesMs, 0.5)), unit: 'ms' });
        const p99 = quantile(result.latenciesMs, 0.99);
        emitRow({
          section: SECTION,
          metric: `p99 per batch at ${clients} client${clients === 1 ? '' : 's'}`,
          value: round(p99),
          unit: 'ms',
          ...(clients === 16 ? { target: `<= ${P99_TARGET_MS} ms`, pass: p99 <= P99_TARGET_MS } : {}),
        });
      }
    } finally {
      await app.stop();
    }
    const scaling = throughput.get(16)! / throughput.get(4)!;
    emitRow({ section: SECTION, metric: 'events/s at 16 clients / at 4', value: round(scaling, 2), unit: 'x', target: '>= 1.0', pass: scaling >= 1.0 });
  } finally {
    await database.drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench section ${SECTION} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
