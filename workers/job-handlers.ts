import type { Job } from 'bullmq';
import type { Logger } from '../src/common/logger';
import type { ExportRunService } from '../src/export-job/export-run.service';
import type { ExportJobName, ExportJobPayload, ExportJobPayloads } from '../src/export-schedule/export-queue';

/** A handler of one job name, typed by its payload. */
export type JobHandler<N extends ExportJobName> = (job: Job<ExportJobPayloads[N], void, N>) => Promise<void>;

/** Every job this worker runs, by name: adding a job name without a handler does not compile. */
export type JobHandlers = { [N in ExportJobName]: JobHandler<N> };

export function createJobHandlers(runs: ExportRunService, logger: Logger): JobHandlers {
  return {
    'scheduled-export': async (job) => {
      const outcome = await runs.run(job.data.configurationId, 'SCHEDULED');
      logger.info({ configurationId: job.data.configurationId, bullJobId: job.id, outcome: outcome.status }, 'scheduled export run finished');
    },
    'manual-export': async (job) => {
      const outcome = await runs.run(job.data.configurationId, 'MANUAL');
      logger.info({ configurationId: job.data.configurationId, bullJobId: job.id, outcome: outcome.status }, 'manual export run finished');
    },
    // Retries and resumed runs follow the schedule's rules (a disabled configuration is skipped),
    // except that a pending run request is honoured whatever the trigger.
    'retry-export': async (job) => {
      const outcome = await runs.run(job.data.configurationId, 'SCHEDULED');
      logger.info({ configurationId: job.data.configurationId, bullJobId: job.id, outcome: outcome.status }, 'export retry finished');
    },
    // An interrupted job is finished even if its configuration was disabled meanwhile.
    'resume-export': async (job) => {
      const outcome = await runs.run(job.data.configurationId, 'SCHEDULED', { resumeInterrupted: true });
      logger.info({ configurationId: job.data.configurationId, bullJobId: job.id, outcome: outcome.status }, 'resumed export run finished');
    },
    // Tasks of a job another run has in progress (issue #11): claimed one by one in PostgreSQL.
    'export-tasks': async (job) => {
      const delivered = await runs.helpWithTasks(job.data.exportJobId);
      logger.info({ configurationId: job.data.configurationId, jobId: job.data.exportJobId, bullJobId: job.id, delivered }, 'helped with export tasks');
    },
  };
}

/** Routes a BullMQ job to its handler; an unknown name is a deployment mismatch and fails loudly. */
export async function dispatchJob(handlers: JobHandlers, job: Job<ExportJobPayload, void, ExportJobName>): Promise<void> {
  const handler = handlers[job.name] as JobHandler<ExportJobName> | undefined;
  if (!handler) throw new Error(`No handler for job name '${job.name}'`);
  await handler(job);
}
