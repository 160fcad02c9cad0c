import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Every series this service defines starts with this prefix (docs/metrics.md lists them all);
 * prom-client's default process metrics keep their usual `process_` and `nodejs_` names.
 */
export const METRIC_PREFIX = 'audit_export_';

/**
 * A registry of its own per app (or worker) instance, never prom-client's global one: tests build
 * several apps in one process, and a global registry refuses the second registration of a name.
 * prom-client's default process metrics (CPU, memory, event loop lag, GC) are registered on it.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Seconds since `started` (a `process.hrtime.bigint()` reading). */
export function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Histogram buckets (seconds) for request latencies: 5 ms to 30 s. */
export const REQUEST_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Histogram buckets (seconds) for export runs: 50 ms to 1 h (a large backlog takes minutes). */
export const RUN_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
