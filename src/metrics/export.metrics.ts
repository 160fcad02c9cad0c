import { Counter, Histogram, type Registry } from 'prom-client';
import type { ExportRunMetrics, ExportRunStatus } from '../export-job/export-run.metrics';
import { METRIC_PREFIX, RUN_BUCKETS_SECONDS } from './metrics.registry';

/**
 * The export worker's series (ExportRunService reports through the ExportRunMetrics port). In the
 * API process with its in-process worker they land in the API's registry; a separate worker
 * process has a registry of its own (workers/export.worker.ts, METRICS_PORT).
 *
 * `configuration_id` is the only per-configuration label: bounded by the number of
 * configurations. Nothing is labelled by job, task, object key or error text.
 */
export class ExportMetrics implements ExportRunMetrics {
  private readonly eventsExported: Counter<'configuration_id'>;
  private readonly bytesExported: Counter<'configuration_id'>;
  private readonly objectsUploaded: Counter<'configuration_id'>;
  private readonly jobs: Counter<'outcome'>;
  private readonly tasks: Counter<'outcome'>;
  private readonly retries: Counter<'kind'>;
  private readonly runDuration: Histogram<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.eventsExported = new Counter({
      name: `${METRIC_PREFIX}events_exported_total`,
      help: 'Events written to S3 objects that were uploaded, by configuration.',
      labelNames: ['configuration_id'],
      registers,
    });
    this.bytesExported = new Counter({
      name: `${METRIC_PREFIX}exported_bytes_total`,
      help: 'Bytes of uploaded S3 objects (gzip-compressed NDJSON), by configuration.',
      labelNames: ['configuration_id'],
      registers,
    });
    this.objectsUploaded = new Counter({
      name: `${METRIC_PREFIX}objects_uploaded_total`,
      help: 'S3 objects uploaded (one per export task), by configuration.',
      labelNames: ['configuration_id'],
      registers,
    });
    this.jobs = new Counter({
      name: `${METRIC_PREFIX}jobs_total`,
      help: 'Export jobs that ended, by outcome (succeeded, failed, superseded).',
      labelNames: ['outcome'],
      registers,
    });
    this.tasks = new Counter({
      name: `${METRIC_PREFIX}tasks_total`,
      help: 'Export tasks that ended within a run, by outcome (succeeded; failed: the job gave up on it until its retry).',
      labelNames: ['outcome'],
      registers,
    });
    this.retries = new Counter({
      name: `${METRIC_PREFIX}task_retries_total`,
      help: 'Retries during export tasks, by kind: client (an S3 request sent again by the SDK) or task (the whole task tried again).',
      labelNames: ['kind'],
      registers,
    });
    this.runDuration = new Histogram({
      name: `${METRIC_PREFIX}run_duration_seconds`,
      help: 'Duration of export runs (every job a run delivered or tried), by outcome.',
      labelNames: ['outcome'],
      buckets: RUN_BUCKETS_SECONDS,
      registers,
    });
    // Bounded label values start at 0, so rates and alerts work before the first occurrence.
    for (const outcome of ['succeeded', 'failed', 'superseded']) this.jobs.inc({ outcome }, 0);
    for (const outcome of ['succeeded', 'failed']) this.tasks.inc({ outcome }, 0);
    for (const kind of ['client', 'task']) this.retries.inc({ kind }, 0);
  }

  objectUploaded(configurationId: string, object: { eventCount: number; bytes: number }): void {
    const labels = { configuration_id: configurationId };
    this.objectsUploaded.inc(labels);
    this.eventsExported.inc(labels, object.eventCount);
    this.bytesExported.inc(labels, object.bytes);
  }

  taskEnded(outcome: 'succeeded' | 'failed'): void {
    this.tasks.inc({ outcome });
  }

  retried(kind: 'client' | 'task', count = 1): void {
    if (count > 0) this.retries.inc({ kind }, count);
  }

  jobEnded(outcome: 'succeeded' | 'failed' | 'superseded'): void {
    this.jobs.inc({ outcome });
  }

  runEnded(status: ExportRunStatus, seconds: number): void {
    // Label values in snake_case, like the names.
    this.runDuration.observe({ outcome: status.replace(/-/g, '_') }, seconds);
  }
}
