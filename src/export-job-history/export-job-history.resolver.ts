import { Arg, Mutation, Query, Resolver } from 'type-graphql';
import { ExportConfiguration } from '../export-config/export-config.type';
import type { ExportJobService } from './export-job-history.service';
import { ExportJob, ExportJobTask } from './export-job-history.type';

/** Thin: export history and manual runs, straight to ExportJobService. */
@Resolver(() => ExportJob)
export class ExportJobResolver {
  constructor(private readonly jobs: ExportJobService) {}

  @Query(() => [ExportJob], { description: 'The export jobs of a configuration, newest first.' })
  getAllExportJobs(@Arg('exportConfigurationId', () => String, { description: 'Id of the export configuration.' }) exportConfigurationId: string): Promise<ExportJob[]> {
    return this.jobs.listJobs(exportConfigurationId);
  }

  @Query(() => [ExportJobTask], { description: 'The tasks of an export job, in event order (by offset).' })
  getAllExportJobTasks(@Arg('exportJobId', () => String, { description: 'Id of the export job.' }) exportJobId: string): Promise<ExportJobTask[]> {
    return this.jobs.listTasks(exportJobId);
  }

  @Mutation(() => ExportConfiguration, {
    description:
      'Starts an export of the configuration now, outside its schedule: everything ingested since its last delivered event. ' +
      'Returns at once with runRequestedAt set; when runInProgress is true, the requested run starts right after the run in progress ends. ' +
      'Follow the run with getAllExportJobs.',
  })
  runExportConfiguration(@Arg('id', () => String, { description: 'Id of the export configuration.' }) id: string): Promise<ExportConfiguration> {
    return this.jobs.runNow(id);
  }
}
