import { CliError } from './cli.errors';
import * as documents from './documents';
import type { GraphqlClient } from './graphql.client';

/**
 * `exportConfig run <id> --wait`: asks for a run, then follows it until the service has finished
 * it, with a progress bar on a terminal.
 *
 * When the run is over is told by the configuration itself: `runRequestedAt` is cleared only
 * after the run that saw the request has finished (delivered or failed), and `runInProgress`
 * is false once no job of the configuration is PENDING or IN_PROGRESS. The jobs the run produced
 * are those new since the request, and those it worked on again (a FAILED job it retried: its
 * attempts grew).
 */

export interface WaitedJob {
  id: string;
  exportConfigurationId: string;
  status: 'PENDING' | 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'SUPERSEDED';
  trigger: string;
  eventCount: number;
  startTimestamp: string | null;
  endTimestamp: string | null;
  failureReason: string | null;
  attempts: number;
  failureCount: number;
  lastFailureReason: string | null;
  nextRetryAt: string | null;
  createdAt: string;
}

interface RunStatus {
  getExportConfiguration: { id: string; runRequestedAt: string | null; runInProgress: boolean } | null;
  getAllExportJobs: WaitedJob[];
}

export interface WaitOptions {
  /** Give up waiting (the run goes on in the service) after this many milliseconds. */
  timeoutMs: number;
  /** Between two status requests. */
  pollMs: number;
  /** Progress output on stderr: a redrawn bar (a terminal), plain lines when something changed, or none. */
  progress: 'bar' | 'lines' | 'none';
  stderr: (text: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface WaitResult {
  /** The response of runExportConfiguration. */
  run: unknown;
  /** The jobs the run produced or worked on, oldest first. */
  jobs: WaitedJob[];
}

const TERMINAL = new Set<WaitedJob['status']>(['SUCCEEDED', 'FAILED', 'SUPERSEDED']);

export async function runAndWait(client: GraphqlClient, id: string, options: WaitOptions): Promise<WaitResult> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const before = await status(client, id);
  const attemptsBefore = new Map(before.getAllExportJobs.map((job) => [job.id, job.attempts]));
  const run = (await client.request<{ runExportConfiguration: unknown }>(documents.idMutation('runExportConfiguration'), { id })).data?.runExportConfiguration;

  const deadline = Date.now() + options.timeoutMs;
  const progress = new ProgressView(options);
  for (;;) {
    const now = await status(client, id);
    const configuration = now.getExportConfiguration;
    if (!configuration) throw new CliError(`NOT_FOUND: Export configuration ${id} was deleted while its run was awaited`);
    const jobs = now.getAllExportJobs.filter((job) => attemptsBefore.get(job.id) !== job.attempts).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    const active = jobs.find((job) => !TERMINAL.has(job.status));
    const delivered = active ? await deliveredEvents(client, active.id) : 0;
    progress.show(active, delivered, jobs);
    if (configuration.runRequestedAt === null && !configuration.runInProgress && !active) {
      progress.end();
      return { run, jobs };
    }
    if (Date.now() >= deadline) {
      progress.end();
      throw new CliError(`Gave up waiting after ${Math.round(options.timeoutMs / 1000)} s; the run goes on in the service (see \`exportConfig jobs ${id}\`)`, 3);
    }
    await sleep(options.pollMs);
  }
}

async function status(client: GraphqlClient, id: string): Promise<RunStatus> {
  const response = await client.request<RunStatus>(documents.RUN_STATUS, { id });
  if (!response.data?.getExportConfiguration) throw new CliError(`NOT_FOUND: Export configuration ${id} was not found`);
  return response.data;
}

/** Events of the job already in the bucket: the sizes of its SUCCEEDED tasks. */
async function deliveredEvents(client: GraphqlClient, jobId: string): Promise<number> {
  const tasks =
    (await client.request<{ getAllExportJobTasks: Array<{ status: string; limit: number }> }>(documents.TASKS, { exportJobId: jobId })).data?.getAllExportJobTasks ?? [];
  return tasks.filter((task) => task.status === 'SUCCEEDED').reduce((sum, task) => sum + task.limit, 0);
}

/** The failed jobs of a finished run, as the one line each that the CLI prints on stderr. */
export function failureLines(jobs: WaitedJob[]): string[] {
  return jobs
    .filter((job) => job.status === 'FAILED')
    .map(
      (job) => `export job ${job.id} FAILED: ${job.failureReason ?? job.lastFailureReason ?? 'no reason given'}${job.nextRetryAt ? ` (tried again at ${job.nextRetryAt})` : ''}`,
    );
}

const BAR_WIDTH = 30;

/** `[#########.....................]  300/1,000 events  IN_PROGRESS`: one line, no newline. */
export function progressBar(delivered: number, planned: number, label: string): string {
  const ratio = planned > 0 ? Math.min(1, delivered / planned) : 0;
  const filled = Math.round(ratio * BAR_WIDTH);
  const count = (n: number) => n.toLocaleString('en-US');
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${count(delivered)}/${count(planned)} events  ${label}`;
}

/** What is shown on stderr while waiting. */
class ProgressView {
  private last = '';
  private drawn = false;

  constructor(private readonly options: Pick<WaitOptions, 'progress' | 'stderr'>) {}

  show(active: WaitedJob | undefined, delivered: number, jobs: WaitedJob[]): void {
    if (this.options.progress === 'none') return;
    const line = active
      ? progressBar(delivered, active.eventCount, `job ${active.id} ${active.status}`)
      : jobs.length > 0
        ? `${jobs.length} job(s) finished: ${jobs.map((job) => job.status).join(', ')}`
        : 'waiting for a worker to start the run';
    if (line === this.last) return;
    this.last = line;
    if (this.options.progress === 'bar') {
      // Redraw in place: carriage return, the line, clear to the end of the line.
      this.options.stderr(`\r${line}\x1b[K`);
      this.drawn = true;
    } else {
      this.options.stderr(`${line}\n`);
    }
  }

  end(): void {
    if (this.drawn) this.options.stderr('\n');
    this.drawn = false;
  }
}
