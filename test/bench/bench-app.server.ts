import 'reflect-metadata';
import { createApp } from '../../src/app/app';

/**
 * The API as a process of its own for the ingest and GraphQL sections, so that the load the
 * section makes (its clients) never runs on the server's event loop. Started from the tsc build
 * (bench-build.ts) with an IPC channel and DATABASE_URL set; answers `{ url, key }` (an API key
 * with every permission) once it listens, and stops on SIGTERM.
 *
 * No export worker runs in it (RUN_WORKER_IN_PROCESS=false): the sections measure the API alone.
 * It runs as a deployment does, NODE_ENV=production (bench-app.ts sets it, with a throwaway
 * SECRET_ENCRYPTION_KEY): graphql-js and Express read process.env.NODE_ENV at load time, and
 * graphql-js checks every `instanceof` twice in development. LOG_LEVEL defaults to warn: one JSON log line per request would make the bench measure the pipe
 * to its parent rather than the request.
 */
async function main(): Promise<void> {
  const app = await createApp({
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      RUN_WORKER_IN_PROCESS: 'false',
    },
  });
  const { url } = await app.start();
  const { key } = await app.services.apiKeys.create({ userName: 'bench', permissions: ['AUDIT', 'INGEST'] });
  process.once('SIGTERM', () => {
    app.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.send!({ url, key });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench app server failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
