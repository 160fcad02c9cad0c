import 'reflect-metadata';
import { createApp } from './app/app';

/**
 * The API process: GraphQL at POST /api/audit/graphql, and (by default, RUN_WORKER_IN_PROCESS)
 * the export worker in the same process, so one command runs the whole service.
 */
async function main(): Promise<void> {
  const app = await createApp();

  if (app.env.RUN_WORKER_IN_PROCESS) {
    // ── In-process worker hook ──────────────────────────────────────────────────────────────
    // Start the export worker here and register its shutdown, e.g.
    //   const worker = await startExportWorker(app);
    //   app.onStop(() => worker.close());
    // Until it exists, the API runs alone.
    app.logger.info('in-process export worker: not available yet');
  }

  await app.start();

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
