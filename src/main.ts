// First: libraries read NODE_ENV when they load (see the module).
import './config/node-env';
import 'reflect-metadata';
import { createApp } from './app/app';
import { nodeVersionNote } from './common/node-version';
import { startExportWorker } from '../workers/export-worker.factory';

/**
 * The API process: GraphQL at POST /api/audit/graphql, and (by default, RUN_WORKER_IN_PROCESS)
 * the export worker in the same process, so one command runs the whole service.
 */
async function main(): Promise<void> {
  // Before createApp: the AWS SDK reads its warning switch when the first client is made.
  const nodeNote = nodeVersionNote();
  const app = await createApp();
  if (nodeNote) app.logger.warn(nodeNote);

  if (app.env.RUN_WORKER_IN_PROCESS) {
    // The same worker as workers/export.worker.ts, in this process; stopped (letting running
    // exports finish) before the app closes its connections.
    const worker = await startExportWorker({
      env: app.env,
      logger: app.logger,
      prisma: app.prisma,
      awsClients: app.services.awsClients,
      digestSigningKeys: app.services.digestSigningKeys,
      metrics: app.metrics.exportRuns,
    });
    app.onStop(() => worker.close());
  }

  // The worker rebuilt the job schedulers before it took jobs; a second pass would find nothing to change.
  await app.start({ reconcileSchedules: !app.env.RUN_WORKER_IN_PROCESS });

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  // The env schema's message names the variable and never its value.
  process.stderr.write(`audit-export failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
