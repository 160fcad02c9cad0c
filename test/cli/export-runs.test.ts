import { randomBytes } from 'node:crypto';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { startExportWorker, type ExportWorker } from '../../workers/export-worker.factory';
import { openSandbox } from '../sandbox/sandbox.fixture';
import { uamEvent } from '../export-job/export-fixtures';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { CliHarness, json } from './cli.fixture';

// Every CLI call is a fresh Node process (through tsx, as `npm run cli` does): about a second
// each, several seconds on a loaded 2-core machine, and these tests make many of them.
jest.setTimeout(120_000);

/** `exportConfig run <id>`, `jobs <configId>` and `tasks <jobId>` against the app and its worker. */

const prefix = `${process.env.BULLMQ_PREFIX ?? 'audit-export-test'}-cli-runs-${randomBytes(4).toString('hex')}`;
let sandbox: Awaited<ReturnType<typeof openSandbox>>;
let service: TestApp;
let worker: ExportWorker;
let cli: CliHarness;

beforeAll(async () => {
  sandbox = await openSandbox();
  service = await startTestApp({ sandbox, env: { BULLMQ_PREFIX: prefix } });
  worker = await startExportWorker({
    env: service.app.env,
    logger: service.app.logger,
    prisma: service.app.prisma,
    awsClients: service.app.services.awsClients,
    digestSigningKeys: service.app.services.digestSigningKeys,
  });
  cli = new CliHarness();
  expect((await cli.run(['configure', '--host', service.url, '--api-key', await service.createKey('admin', ['AUDIT'])])).code).toBe(0);
});
afterAll(async () => {
  cli?.cleanup();
  await worker?.close();
  const queue = createExportQueue({ redisUrl: service.app.env.REDIS_URL, prefix });
  await queue.obliterate({ force: true });
  await queue.close();
  await service?.close();
  await sandbox?.close();
});

test('run starts an export; jobs and tasks show what was delivered', async () => {
  const ingestKey = await service.createKey('producer', ['INGEST']);
  const events = [uamEvent(1), uamEvent(2), uamEvent(3)];
  const ingest = await fetch(`${service.url}/api/audit/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ingestKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  expect(ingest.status).toBe(200);

  const exporter = sandbox.user('exporter');
  const file = cli.writeFile('exportConfig.json', {
    interval: 'EVERY_24_HOURS',
    bucket: 'your-s3-bucket',
    path: 'runs',
    region: 'us-east-1',
    accessKeyId: exporter.accessKeyId,
    secretAccessKey: exporter.secretAccessKey,
  });
  const id = json(await cli.run(['exportConfig', 'create:s3:accessKey', file])).data.createS3AccessKeyExportConfiguration.id;

  const run = json(await cli.run(['exportConfig', 'run', id])).data.runExportConfiguration;
  expect(run.id).toBe(id);

  // Until every job of the configuration has finished and the events are delivered.
  let jobs: Array<{ id: string; status: string; eventCount: number; exportConfigurationId: string }>;
  const deadline = Date.now() + 20_000;
  do {
    jobs = json(await cli.run(['exportConfig', 'jobs', id])).data.getAllExportJobs;
  } while (!(jobs.length > 0 && jobs.every((job) => job.status === 'SUCCEEDED')) && Date.now() < deadline);
  expect(jobs.every((job) => job.status === 'SUCCEEDED' && job.exportConfigurationId === id)).toBe(true);
  // Everything stored is delivered: the ingested events and the service's own (keys and configuration created).
  const [{ n: stored }] = await service.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_events');
  expect(Number(stored)).toBe(events.length + 3);
  expect(jobs.reduce((sum, job) => sum + job.eventCount, 0)).toBe(Number(stored));

  const delivering = jobs.find((job) => job.eventCount > 0)!;
  const tasks = json(await cli.run(['exportConfig', 'tasks', delivering.id])).data.getAllExportJobTasks;
  expect(tasks.length).toBeGreaterThan(0);
  expect(tasks.every((task: { status: string; objectKey: string }) => task.status === 'SUCCEEDED' && task.objectKey.startsWith('runs/'))).toBe(true);
});
