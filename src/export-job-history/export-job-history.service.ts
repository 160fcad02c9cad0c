import { NotFoundError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { ExportConfiguration } from '../export-config/export-config.type';
import { configurationIdSchema, parseInput } from '../export-config/export-config.validation';
import { z } from 'zod';
import type { ExportJobHistoryRepository } from './export-job-history.repository';
import { toExportJob, toExportJobTask } from './export-job-history.mapper';
import type { ExportJob, ExportJobTask } from './export-job-history.type';

const jobIdSchema = z.uuid({ error: 'must be an export job id (UUID)' });

export interface ExportJobServiceDependencies {
  history: ExportJobHistoryRepository;
  /** Enqueues a run now (BullmqExportSchedule.runNow). */
  runQueue: { runNow(configurationId: string): Promise<void> };
  /** Records the run request in PostgreSQL and returns the configuration as the API shows it (ExportConfigurationService.requestRun). */
  configurations: { requestRun(id: string): Promise<ExportConfiguration | null> };
  logger: Logger;
}

/** Export history for the API, and starting a run outside the schedule. */
export class ExportJobService {
  constructor(private readonly deps: ExportJobServiceDependencies) {}

  async listJobs(exportConfigurationId: string): Promise<ExportJob[]> {
    const id = parseInput(configurationIdSchema, exportConfigurationId, 'exportConfigurationId');
    if (!(await this.deps.history.configurationExists(id))) throw new NotFoundError('Export configuration', id);
    return (await this.deps.history.listJobs(id)).map(toExportJob);
  }

  async listTasks(exportJobId: string): Promise<ExportJobTask[]> {
    const id = parseInput(jobIdSchema, exportJobId, 'exportJobId');
    const tasks = await this.deps.history.listTasks(id);
    if (!tasks) throw new NotFoundError('Export job', id);
    return tasks.map(toExportJobTask);
  }

  /**
   * Asks for a run of the configuration now. The request is stored in PostgreSQL first
   * (`runRequestedAt`), then a worker is woken through the queue. If a run is in progress
   * (`runInProgress`), the request is honoured right after it, by that run; if the queue is
   * unreachable, the workers' reconcile loop finds the stored request. Never dropped.
   */
  async runNow(id: string): Promise<ExportConfiguration> {
    // requestRun validates the id (BAD_USER_INPUT for a malformed one).
    const configuration = await this.deps.configurations.requestRun(id);
    if (!configuration) throw new NotFoundError('Export configuration', id);
    try {
      await this.deps.runQueue.runNow(configuration.id);
    } catch (error) {
      this.deps.logger.error({ err: error, configurationId: configuration.id }, 'could not queue the requested run; the reconcile loop will');
    }
    return configuration;
  }
}
