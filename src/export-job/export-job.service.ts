import { NotFoundError } from '../common/errors';
import type { ExportConfiguration } from '../export-config/export-config.type';
import { configurationIdSchema, parseInput } from '../export-config/export-config.validation';
import { z } from 'zod';
import type { ExportJobHistoryRepository } from './export-job-history.repository';
import { toExportJob, toExportJobTask } from './export-job.mapper';
import type { ExportJob, ExportJobTask } from './export-job.type';

const jobIdSchema = z.uuid({ error: 'must be an export job id (UUID)' });

export interface ExportJobServiceDependencies {
  history: ExportJobHistoryRepository;
  /** Enqueues a run now (BullmqExportSchedule.runNow). */
  runQueue: { runNow(configurationId: string): Promise<void> };
  /** The configuration as the API shows it (ExportConfigurationService.findById). */
  configurations: { findById(id: string): Promise<ExportConfiguration | null> };
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
   * Queues a run of the configuration now; a worker picks it up. If a run of it is already in
   * progress, the queued one finds nothing new or resumes what that one left.
   */
  async runNow(id: string): Promise<ExportConfiguration> {
    // findById validates the id (BAD_USER_INPUT for a malformed one).
    const configuration = await this.deps.configurations.findById(id);
    if (!configuration) throw new NotFoundError('Export configuration', id);
    await this.deps.runQueue.runNow(configuration.id);
    return configuration;
  }
}
