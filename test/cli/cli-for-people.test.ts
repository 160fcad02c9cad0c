import { startExportWorker, type ExportWorker } from '../../workers/export-worker.factory';
import { openSandbox } from '../sandbox/sandbox.fixture';
import { uamEvent } from '../export-job/export-fixtures';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { CliHarness, json } from './cli.fixture';

// Every CLI call is a fresh Node process (through tsx): seconds each on a loaded machine.
jest.setTimeout(180_000);

/**
 * The CLI's options for people, as child processes against the app, its worker and the sandbox:
 * `run --wait`, `policy --output text` (and the policies as objects in the default JSON), and
 * `list --output table`. JSON stays the default output of every command.
 */

let sandbox: Awaited<ReturnType<typeof openSandbox>>;
let service: TestApp;
let worker: ExportWorker;
let cli: CliHarness;

beforeAll(async () => {
  sandbox = await openSandbox();
  // The fixture gives the app a BullMQ prefix of its own and obliterates it on close.
  service = await startTestApp({ sandbox });
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
  await service?.close();
  await sandbox?.close();
});

async function ingest(count: number): Promise<void> {
  const key = await service.createKey(`producer-${Math.random()}`, ['INGEST']);
  const response = await fetch(`${service.url}/api/audit/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(Array.from({ length: count }, (_, i) => uamEvent(i + 1))),
  });
  expect(response.status).toBe(200);
}

async function createAccessKeyConfiguration(path: string): Promise<string> {
  const exporter = sandbox.user('exporter');
  const file = cli.writeFile(`${path}.json`, {
    interval: 'EVERY_24_HOURS',
    bucket: 'your-s3-bucket',
    path,
    region: 'us-east-1',
    accessKeyId: exporter.accessKeyId,
    secretAccessKey: exporter.secretAccessKey,
  });
  return json(await cli.run(['exportConfig', 'create:s3:accessKey', file])).data.createS3AccessKeyExportConfiguration.id;
}

/**
 * Until the configuration's first export (started at create; it has the create's own audit event
 * to deliver, so it makes a job) is done: a job exists and none is PENDING or IN_PROGRESS. Waiting
 * only for "no unfinished job" could return before that export had planned its job, which would
 * then run beside the test's own run and deliver some of its events.
 */
async function idle(id: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const [row] = await service.db.query<{ n: string; unfinished: string }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE status IN ('PENDING', 'IN_PROGRESS')) AS unfinished FROM export_jobs WHERE configuration_id = $1`,
      [id],
    );
    const [config] = await service.db.query<{ run_requested_at: Date | null }>('SELECT run_requested_at FROM export_configurations WHERE id = $1', [id]);
    if (Number(row!.n) > 0 && Number(row!.unfinished) === 0 && config!.run_requested_at === null) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`configuration ${id} did not become idle`);
}

test('run --wait follows the run to the end: the jobs it produced as JSON on stdout, their delivered events, progress lines on stderr (not a terminal), exit 0', async () => {
  const id = await createAccessKeyConfiguration('wait-ok');
  await idle(id);
  await ingest(5);
  // Everything past the configuration's cursor is what this run has to deliver.
  const [{ n: undelivered }] = await service.db.query<{ n: string }>(
    'SELECT count(*) AS n FROM audit_events WHERE sequence > (SELECT cursor FROM export_configurations WHERE id = $1)',
    [id],
  );
  expect(Number(undelivered)).toBeGreaterThanOrEqual(5);

  const result = await cli.run(['exportConfig', 'run', id, '--wait', '--wait-timeout', '120']);
  expect(result.code).toBe(0);
  const output = json(result).data;
  expect(output.runExportConfiguration.id).toBe(id);
  const jobs: Array<{ id: string; status: string; eventCount: number; attempts: number; exportConfigurationId: string }> = output.exportJobs;
  expect(jobs.length).toBeGreaterThan(0);
  expect(jobs.every((job) => job.status === 'SUCCEEDED' && job.exportConfigurationId === id)).toBe(true);
  // The five events (and the service's own audit events since the first export) went out in this run.
  expect(jobs.reduce((sum, job) => sum + job.eventCount, 0)).toBe(Number(undelivered));
  // What it printed is what is stored.
  const stored = await service.db.query<{ id: string; status: string }>('SELECT id, status FROM export_jobs WHERE id = ANY($1::uuid[])', [jobs.map((job) => job.id)]);
  expect(stored.map((row) => row.status)).toEqual(jobs.map(() => 'SUCCEEDED'));
  // stderr is a pipe here: plain lines, no carriage returns, the last one saying how it ended.
  expect(result.stderr).not.toContain('\r');
  const lines = result.stderr.trim().split('\n');
  expect(lines.at(-1)).toMatch(/^\d+ job\(s\) finished: SUCCEEDED(, SUCCEEDED)*$/);
});

test('run --wait exits 1 and prints the failure reason when the job FAILED', async () => {
  const id = await createAccessKeyConfiguration('wait-fails');
  await idle(id);
  await ingest(2);
  // Every S3 request is refused from now on: the run's upload fails.
  sandbox.setFaults({ s3FailureRatio: 1, status: 403, code: 'AccessDenied' });
  let result;
  try {
    result = await cli.run(['exportConfig', 'run', id, '--wait', '--wait-timeout', '120']);
  } finally {
    sandbox.setFaults(null);
  }
  expect(result.code).toBe(1);
  const jobs: Array<{ id: string; status: string; failureReason: string | null; nextRetryAt: string | null }> = JSON.parse(result.stdout).data.exportJobs;
  const failed = jobs.find((job) => job.status === 'FAILED')!;
  expect(failed.failureReason).toBeTruthy();
  expect(failed.nextRetryAt).toBeTruthy();
  expect(result.stderr).toContain(`Error: export job ${failed.id} FAILED: ${failed.failureReason}`);
  const [stored] = await service.db.query<{ status: string }>('SELECT status FROM export_jobs WHERE id = $1', [failed.id]);
  expect(stored!.status).toBe('FAILED');
});

test('policy: the default JSON has the documents as objects; --output text prints headed blocks that each parse as the same document', async () => {
  const id = await createAccessKeyConfiguration('policy-text');
  const policies = json(await cli.run(['exportConfig', 'policy', id])).data.getExportConfigurationPolicies;
  expect(policies.trustPolicy).toBeNull();
  expect(typeof policies.permissionsPolicy).toBe('object');
  expect(policies.permissionsPolicy.Version).toBe('2012-10-17');

  const text = await cli.run(['exportConfig', 'policy', id, '--output', 'text']);
  expect(text.code).toBe(0);
  const blocks = text.stdout
    .split(/^# .*$/m)
    .map((block) => block.trim())
    .filter(Boolean);
  expect(text.stdout.match(/^# .*$/gm)).toEqual([expect.stringMatching(/^# Permissions policy/)]);
  expect(blocks.map((block) => JSON.parse(block))).toEqual([policies.permissionsPolicy]);
});

test('list --output table: a header and one aligned row per configuration (id, interval, enabled, connection status, bucket/path); JSON stays the default', async () => {
  const id = await createAccessKeyConfiguration('table-row');
  const listed = json(await cli.run(['exportConfig', 'list'])).data.getAllExportConfigurations;
  expect(listed.map((configuration: { id: string }) => configuration.id)).toContain(id);

  const result = await cli.run(['exportConfig', 'list', '--output', 'table']);
  expect(result.code).toBe(0);
  const lines = result.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^ID\s+INTERVAL\s+ENABLED\s+CONNECTION\s+BUCKET\/PATH$/);
  expect(lines).toHaveLength(listed.length + 1);
  const row = lines.find((line) => line.startsWith(id))!;
  expect(row.split(/\s{2,}/)).toEqual([id, 'EVERY_24_HOURS', 'yes', 'SUCCESS', 'your-s3-bucket/table-row']);
  // Aligned: every column starts at the same position on every line.
  const start = (line: string, column: number) => [...line.matchAll(/\S+/g)][column]!.index;
  for (const line of lines.slice(1)) expect(start(line, 1)).toBe(start(lines[0]!, 1));
});
