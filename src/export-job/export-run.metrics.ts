import type { RunOutcome } from './export-run.service';

export type ExportRunStatus = RunOutcome['status'];

/**
 * What an export run reports as it goes (src/metrics's ExportMetrics implements it; the
 * composition root decides whether there is one). Calls are synchronous and never throw, so
 * reporting cannot fail a run.
 */
export interface ExportRunMetrics {
  /** A task's object is in S3: its events and its size (bytes as uploaded, i.e. compressed). */
  objectUploaded(configurationId: string, object: { eventCount: number; bytes: number }): void;
  /** A task ended within a run: delivered, or given up on (the job failed). */
  taskEnded(outcome: 'succeeded' | 'failed'): void;
  /** `client`: S3 requests the SDK sent again; `task`: a task tried again by the run. */
  retried(kind: 'client' | 'task', count?: number): void;
  jobEnded(outcome: 'succeeded' | 'failed' | 'superseded'): void;
  runEnded(status: ExportRunStatus, seconds: number): void;
}

/** For runs nobody observes (tools, most tests). */
export const NO_EXPORT_RUN_METRICS: ExportRunMetrics = {
  objectUploaded: () => undefined,
  taskEnded: () => undefined,
  retried: () => undefined,
  jobEnded: () => undefined,
  runEnded: () => undefined,
};
