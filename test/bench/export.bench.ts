import 'reflect-metadata';
import { measureExport, mib as mb, peakRss, type ExportMeasurement } from './export-bench.run';

/**
 * `npm run bench:export -- [--events N | --sizes N1,N2,...] [--task-max M] [--gzip-level L]`
 *
 * The standalone export bench with its own detailed table; `npm run bench` (bench.ts) runs the same
 * measurement (export-bench.run.ts) as its `export` section, among the others.
 *
 * For each N, in a fresh database: seeds N realistic UAM events (about 700 bytes of JSON each) with
 * COPY, times the reference, then exports them to a sandbox S3 and prints events/s, MB/s and the
 * exporter's memory. At the end, one table and a PASS/FAIL line per target: at least 0.5 of the
 * reference throughput; peak RSS under 300 MB; and, with several sizes, flat in N. Without --events
 * or --sizes it runs 1,000,000 events after a 100,000 run, so that the plain command checks every
 * target; --events N alone runs N only and says that flatness was not checked.
 *
 * Four kinds of process, so that only the exporter is measured:
 * - this one: databases, reference, configuration, the table;
 * - the sandbox (`sandbox/main.ts`, one per N), whose request buffering and object storage would
 *   otherwise count in the exporter's RSS;
 * - the seeder (export-bench.seed.ts), which builds a million rows of text;
 * - the exporter (export-bench.exporter.ts), a fresh Node process per N, so one N's memory does
 *   not carry into the next. It reports its RSS after a GC just before the run (baseline), the
 *   kernel's peak RSS during the run (VmHWM, reset at the start), and heap/external figures
 *   sampled every 50 ms.
 *
 * The references are `COPY (SELECT body::text FROM audit_events ORDER BY sequence) TO STDOUT` piped
 * into `gzip -6` and into `pigz -6 -p <cores>`, psql and the compressor as separate processes
 * (export-bench.run.ts). The ratio below is to gzip -6; `npm run bench` prints both. It selects `body` rather than `row_to_json(audit_events)`
 * because the export writes exactly the bodies, one per line; `row_to_json` of the whole row
 * would make PostgreSQL do more work than the export asks of it and flatter the ratio.
 *
 * The history below was measured with the exporter under tsx, which added about 60 MB to every
 * figure; it now runs from the tsc build with the worker's V8 settings (docs/benchmarks.md has the
 * figures since: baseline ~110 MB, peak ~140-157 MB).
 *
 * The exporter's memory (measured in the exporter process alone, 2 cores, gzip -6, 100k events
 * per task, 5 MB parts, queueSize 2). After the run and a full GC, heapUsed is back where it
 * started: no per-task JS state is kept. Two kinds of short-lived buffer made the peak rise with N,
 * because V8 frees a Buffer promoted to the old generation only at a full collection, which it
 * starts after some tens of MB of external memory, and the allocator keeps what it freed:
 * - before commit d78e6a6 every 256 KB chunk of lines was a fresh Buffer on its way into gzip
 *   (about 800 MB of garbage for 1M events): peak 239 / 276 / 308 MB at 100k / 300k / 1M;
 * - until the uploader's own multipart writer (multipart-object.writer.ts) replaced lib-storage,
 *   gzip's 16 KB output chunks waited in lib-storage's part queue and every 5 MB part was a fresh
 *   concatenation: arrayBuffers climbed to ~60 MB from the second task on and the peak settled
 *   only after several tasks: 245 / 247 / 260 MB, with ~25 MB run-to-run noise at 1M.
 * Now lines go through two reused buffers and gzip's output is copied into `queueSize + 1` part
 * buffers kept for the next task; arrayBuffers stays near 20 MB whatever N, and the peak no longer
 * grows with it: 243 / 236 / 228 MB at 100k / 300k / 1M in one invocation, 228 / 226 / 224 MB in
 * the next (after the uploader's failure handling was tightened), 244 / 238 MB at 1M / 100k in
 * reverse order. Between invocations the level moves by ~20 MB; within one, the sizes stay 4-6 MB
 * apart. About 45 MB of the
 * rise over the baseline comes before the first row, a fixed cost of the process rather than of N:
 * most of it (~32 MB) is Prisma's query compiler, WebAssembly instantiated at the first query.
 * The rest of the rise, during the rows, is V8's young generation being touched for the first
 * time (heapTotal does not move).
 *
 * MALLOC_ARENA_MAX=2 (set by `npm run bench:export`, as by `npm start` and `npm run start:worker`):
 * zlib runs on libuv's thread pool, so without a cap glibc gives those threads their own arenas
 * and keeps freed buffers in them. With the pooled part buffers, same machine: 1M events peak at
 * 283 MB (277 MB after the run and a GC) without the cap, 228 MB (224 MB after) with it; and the
 * 100k run stays at 247 MB, so without the cap the flatness check fails (36 MB spread).
 */

const RATIO_TARGET = 0.5;
const PEAK_RSS_TARGET_MB = 300;
/** "Flat in N": the exporter's peak RSS may differ by at most this much between the sizes of one invocation. */
const FLATNESS_TARGET_MB = 30;

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : (process.argv[index + 1] ?? '');
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text.replace(/_/g, ''));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs positive integers, got "${text}"`);
  return value;
}

const SIZES = (option('sizes') ?? option('events') ?? '100000,1000000').split(',').map((text) => positiveInteger('sizes', text.trim()));
const TASK_MAX = positiveInteger('task-max', option('task-max') ?? process.env.EXPORT_TASK_MAX_EVENTS ?? '100000');
const GZIP_LEVEL = positiveInteger('gzip-level', option('gzip-level') ?? '6');

const fmt = (value: number, digits = 1) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const say = (text: string) => process.stdout.write(`${text}\n`);

/** The gzip -6 reference's seconds (always installed with the system). */
const gzipSeconds = (result: ExportMeasurement) => result.references[0].seconds!;

function printSummary(results: ExportMeasurement[]): boolean {
  const header = ['N', 'ref ev/s', 'ref MB/s', 'export ev/s', 'export MB/s', 'ratio', 'baseline RSS MB', 'peak RSS MB', 'delta MB', 'peak heapUsed MB'];
  const rows = results.map((result) => {
    const { exporter, events, rawBytes } = result;
    const reference = gzipSeconds(result);
    return [
      events.toLocaleString('en-US'),
      fmt(events / reference, 0),
      fmt(mb(rawBytes) / reference),
      fmt(events / exporter.seconds, 0),
      fmt(mb(rawBytes) / exporter.seconds),
      fmt(reference / exporter.seconds, 2),
      fmt(mb(exporter.baseline.rss)),
      fmt(mb(peakRss(exporter))),
      fmt(mb(peakRss(exporter) - exporter.baseline.rss)),
      fmt(mb(exporter.sampledPeak.heapUsed)),
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join(' | ')} |`;
  say(
    `\nbench:export summary (task max ${TASK_MAX.toLocaleString('en-US')}, gzip -${GZIP_LEVEL}, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'}; reference COPY | gzip -${GZIP_LEVEL}; peak RSS = the exporter process's VmHWM during the run)`,
  );
  say(line(header));
  say(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of rows) say(line(row));

  let passed = true;
  const verdict = (ok: boolean, text: string) => {
    passed &&= ok;
    say(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
  };
  say('');
  for (const result of results) {
    const ratio = gzipSeconds(result) / result.exporter.seconds;
    verdict(ratio >= RATIO_TARGET, `N=${result.events.toLocaleString('en-US')}: ratio ${fmt(ratio, 2)} >= ${RATIO_TARGET}`);
    verdict(
      mb(peakRss(result.exporter)) < PEAK_RSS_TARGET_MB,
      `N=${result.events.toLocaleString('en-US')}: peak RSS ${fmt(mb(peakRss(result.exporter)))} MB < ${PEAK_RSS_TARGET_MB} MB`,
    );
  }
  if (results.length > 1) {
    const peaks = results.map((result) => mb(peakRss(result.exporter)));
    const spread = Math.max(...peaks) - Math.min(...peaks);
    verdict(
      spread <= FLATNESS_TARGET_MB,
      `flat in N: peak RSS ${results.map((result, index) => `${result.events.toLocaleString('en-US')}: ${fmt(peaks[index])} MB`).join(', ')}; spread ${fmt(spread)} MB <= ${FLATNESS_TARGET_MB} MB`,
    );
  } else {
    say('note  flat in N: not checked with a single size (use --sizes N1,N2,...)');
  }
  return passed;
}

async function main(): Promise<void> {
  if (!process.env.MALLOC_ARENA_MAX) say('note: MALLOC_ARENA_MAX is not set; `npm run bench:export` sets it to 2 (see the comment at the top of export.bench.ts)');
  const results: ExportMeasurement[] = [];
  for (const events of SIZES) results.push(await measureExport({ events, taskMax: TASK_MAX, gzipLevel: GZIP_LEVEL, references: true }));
  if (!printSummary(results)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:export failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
