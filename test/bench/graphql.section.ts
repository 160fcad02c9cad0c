import 'reflect-metadata';
import { LIST } from '../../src/cli/documents';
import { startBenchApp } from './bench-app';
import { closedLoop } from './bench-load';
import { emitRow, parseBenchFlags, processCpuMs, quantile, round, say } from './bench-row';
import { createBenchDatabase } from './export-bench.run';
import { CONFIGURATIONS, JOBS_PER_CONFIGURATION, seedConfigurations } from './graphql-bench.seed';

/**
 * Section `graphql` of `npm run bench`: `getAllExportConfigurations` with the CLI's own document
 * (src/cli/documents.ts LIST: every configuration field and its endpoint) over 1,000 stored
 * configurations, each with a history of export jobs. The API runs in its own process
 * (bench-app.ts); this process is the client.
 *
 * - single request: the median of 50 requests sent one after the other (after 20 to warm up);
 * - 50 clients: requests/s and p50/p99 latency of 50 closed loops for 10 s (5 s with --quick).
 *
 * Targets from issue #11: <= 20 ms alone, >= 3 x the 16 requests/s measured before the fix.
 */
const SECTION = 'graphql';
const CLIENTS = 50;
const SINGLE_TARGET_MS = 20;
/** Issue #11's measurement before this branch: 16 requests/s at 50 clients. */
const BEFORE_REQUESTS_PER_SECOND = 16;

async function main(): Promise<void> {
  const flags = parseBenchFlags(process.argv);
  const database = await createBenchDatabase();
  try {
    await seedConfigurations(database.admin);
    say(`graphql: ${CONFIGURATIONS.toLocaleString('en-US')} configurations and ${(CONFIGURATIONS * JOBS_PER_CONFIGURATION).toLocaleString('en-US')} jobs in ${database.name}`);
    const app = await startBenchApp(database.url);
    try {
      const body = JSON.stringify({ query: LIST, operationName: 'GetAllExportConfigurations' });
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${app.key}` };
      const send = async () => {
        const response = await fetch(`${app.url}/api/audit/graphql`, { method: 'POST', headers, body });
        const text = await response.text();
        if (response.status !== 200) throw new Error(`getAllExportConfigurations: HTTP ${response.status}: ${text.slice(0, 300)}`);
        return text;
      };
      const first = JSON.parse(await send()) as { data?: { getAllExportConfigurations: unknown[] }; errors?: unknown[] };
      if (first.errors || first.data?.getAllExportConfigurations.length !== CONFIGURATIONS) throw new Error(`unexpected response: ${JSON.stringify(first).slice(0, 300)}`);

      await closedLoop({ clients: 1, requests: 20, send: async () => void (await send()) });
      const cpuBefore = processCpuMs(app.pid);
      const single = await closedLoop({ clients: 1, requests: 50, send: async () => void (await send()) });
      const cpuAfter = processCpuMs(app.pid);
      const median = quantile(single.latenciesMs, 0.5);
      emitRow({
        section: SECTION,
        metric: `getAllExportConfigurations (${CONFIGURATIONS.toLocaleString('en-US')}) alone, median of ${single.requests}`,
        value: round(median),
        unit: 'ms',
        target: `<= ${SINGLE_TARGET_MS} ms`,
        pass: median <= SINGLE_TARGET_MS,
      });
      emitRow({ section: SECTION, metric: 'alone, p90', value: round(quantile(single.latenciesMs, 0.9)), unit: 'ms' });
      emitRow({
        section: SECTION,
        metric: 'alone, server CPU per request',
        value: cpuBefore === undefined || cpuAfter === undefined ? null : round((cpuAfter - cpuBefore) / single.requests),
        unit: 'ms',
        note: 'CPU time of the API process (user + system) over the 50 requests: what one request costs whatever else shares the cores; ~ the time alone on an idle machine',
      });

      const loaded = await closedLoop({ clients: CLIENTS, durationMs: flags.quick ? 5_000 : 10_000, send: async () => void (await send()) });
      const perSecond = loaded.requests / loaded.seconds;
      emitRow({
        section: SECTION,
        metric: `requests/s at ${CLIENTS} clients`,
        value: round(perSecond),
        unit: 'req/s',
        reference: 'before this branch (issue #11)',
        referenceValue: BEFORE_REQUESTS_PER_SECOND,
        ratio: round(perSecond / BEFORE_REQUESTS_PER_SECOND, 2),
        target: 'ratio >= 3.0',
        pass: perSecond >= 3 * BEFORE_REQUESTS_PER_SECOND,
      });
      emitRow({ section: SECTION, metric: `p50 at ${CLIENTS} clients`, value: round(quantile(loaded.latenciesMs, 0.5)), unit: 'ms' });
      emitRow({ section: SECTION, metric: `p99 at ${CLIENTS} clients`, value: round(quantile(loaded.latenciesMs, 0.99)), unit: 'ms' });
    } finally {
      await app.stop();
    }
  } finally {
    await database.drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench section ${SECTION} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
