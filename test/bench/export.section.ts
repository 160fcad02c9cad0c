import 'reflect-metadata';
import { emitRow, mb, parseBenchFlags, round } from './bench-row';
import { measureExport, peakRss, referenceCommands } from './export-bench.run';
import { measureIdleWorker } from './worker-idle';

/**
 * Section `export` of `npm run bench`: one export run per size (100k and 1M events, or --sizes)
 * against `COPY | gzip -6` and `COPY | pigz -6 -p <cores>` over the same rows; the exporter's peak
 * RSS per size and its spread. Targets from issue #11: >= 1.0 x pigz at 1M, >= 0.8 x at 100k; peak
 * RSS <= 192 MB at every size; spread <= 20 MB.
 */
const SECTION = 'export';
const PEAK_RSS_TARGET_MB = 192;
const SPREAD_TARGET_MB = 20;
const GZIP_LEVEL = 6;

function pigzTarget(events: number): number {
  return events >= 1_000_000 ? 1.0 : 0.8;
}

async function main(): Promise<void> {
  const flags = parseBenchFlags(process.argv);
  const sizes = flags.sizes ?? [100_000, 1_000_000];
  const taskMax = Number(process.env.EXPORT_TASK_MAX_EVENTS ?? 100_000);
  const [gzip, pigz] = referenceCommands(GZIP_LEVEL);
  const idle = await measureIdleWorker();
  emitRow({
    section: SECTION,
    metric: 'worker process RSS, started and idle',
    value: round(mb(idle.rss)),
    unit: 'MB',
    note: 'node dist/workers/export.worker.js (the bench build) connected to PostgreSQL and Redis, before any job: the fixed cost under every export peak',
  });
  const peaks: number[] = [];
  for (const events of sizes) {
    const result = await measureExport({ events, taskMax, gzipLevel: GZIP_LEVEL, references: true });
    const label = events.toLocaleString('en-US');
    const eventsPerSecond = events / result.exporter.seconds;
    for (const reference of result.references) {
      const isPigz = reference.name === pigz.name;
      const referenceValue = reference.seconds === undefined ? null : events / reference.seconds;
      const ratio = referenceValue === null ? null : eventsPerSecond / referenceValue;
      emitRow({
        section: SECTION,
        metric: `events/s at ${label} vs ${isPigz ? 'pigz' : 'gzip'}`,
        value: round(eventsPerSecond, 0),
        unit: 'events/s',
        reference: reference.name,
        referenceValue: referenceValue === null ? null : round(referenceValue, 0),
        ratio: ratio === null ? null : round(ratio, 2),
        // The target is against pigz (all cores); gzip -6 is shown for comparison with earlier figures.
        ...(isPigz ? { target: `ratio >= ${pigzTarget(events).toFixed(1)}`, pass: ratio !== null && ratio >= pigzTarget(events) } : {}),
        ...(reference.missing ? { note: `${reference.name}: ${reference.missing}; no ratio is given rather than a made-up one` } : {}),
      });
    }
    if (!result.references.some((reference) => reference.name === gzip.name)) throw new Error('the gzip reference did not run');
    const peak = mb(peakRss(result.exporter));
    peaks.push(peak);
    emitRow({ section: SECTION, metric: `exporter baseline RSS at ${label}`, value: round(mb(result.exporter.baseline.rss)), unit: 'MB' });
    emitRow({
      section: SECTION,
      metric: `exporter peak RSS at ${label}`,
      value: round(peak),
      unit: 'MB',
      target: `<= ${PEAK_RSS_TARGET_MB} MB`,
      pass: peak <= PEAK_RSS_TARGET_MB,
    });
  }
  // OCSF_PARQUET (issue #9): figures only, no target of its own; the NDJSON rows above carry the
  // export targets. The same rows and sizes' smallest, mapped to OCSF and written as Snappy Parquet.
  const ocsfEvents = Math.min(...sizes);
  const ocsf = await measureExport({ events: ocsfEvents, taskMax, gzipLevel: GZIP_LEVEL, references: false, format: 'OCSF_PARQUET' });
  const ocsfLabel = ocsfEvents.toLocaleString('en-US');
  emitRow({
    section: SECTION,
    metric: `OCSF_PARQUET events/s at ${ocsfLabel}`,
    value: round(ocsfEvents / ocsf.exporter.seconds, 0),
    unit: 'events/s',
    note: 'figure only (issue #9)',
  });
  emitRow({ section: SECTION, metric: `OCSF_PARQUET exporter peak RSS at ${ocsfLabel}`, value: round(mb(peakRss(ocsf.exporter))), unit: 'MB', note: 'figure only (issue #9)' });
  if (peaks.length > 1) {
    const spread = Math.max(...peaks) - Math.min(...peaks);
    emitRow({
      section: SECTION,
      metric: 'exporter peak RSS spread over sizes',
      value: round(spread),
      unit: 'MB',
      target: `<= ${SPREAD_TARGET_MB} MB`,
      pass: spread <= SPREAD_TARGET_MB,
    });
  } else {
    emitRow({
      section: SECTION,
      metric: 'exporter peak RSS spread over sizes',
      value: null,
      unit: 'MB',
      target: `<= ${SPREAD_TARGET_MB} MB`,
      note: 'one size only: flatness not checked',
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench section ${SECTION} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
