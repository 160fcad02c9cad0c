import { randomBytes, randomUUID } from 'node:crypto';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.server';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { startExportWorker, type ExportWorker } from '../../workers/export-worker.factory';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { readExports, uamEvent } from '../export-job/export-fixtures';

jest.setTimeout(60_000);

describe('POST /api/audit/events and the export GraphQL API, over HTTP', () => {
  let sandbox: Sandbox;
  let testApp: TestApp;
  let worker: ExportWorker;
  let ingestKey: string;
  let auditKey: string;
  const prefix = `${process.env.BULLMQ_PREFIX}-http-${randomBytes(3).toString('hex')}`;

  const post = async (body: string, contentType: string, key = ingestKey) => {
    const response = await fetch(`${testApp.url}/api/audit/events`, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${key}` }, body });
    return { status: response.status, body: (await response.json()) as any };
  };
  const count = async () => Number((await testApp.db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_events'))[0].n);

  beforeAll(async () => {
    sandbox = await startSandbox();
    testApp = await startTestApp({ sandbox, env: { BULLMQ_PREFIX: prefix, INGEST_MAX_BODY_BYTES: '65536', LOG_LEVEL: 'silent' } });
    worker = await startExportWorker({
      env: testApp.app.env,
      logger: testApp.app.logger,
      prisma: testApp.app.prisma,
      awsClients: testApp.app.services.awsClients,
      digestSigningKeys: testApp.app.services.digestSigningKeys,
    });
    ingestKey = await testApp.createKey('producer', ['INGEST']);
    auditKey = await testApp.createKey('admin', ['AUDIT']);
  });
  afterAll(async () => {
    await worker.close();
    const queue = createExportQueue({ redisUrl: testApp.app.env.REDIS_URL, prefix });
    await queue.obliterate({ force: true });
    await queue.close();
    await testApp.close();
    await sandbox.stop();
  });

  it('stores NDJSON and JSON arrays, skipping and counting duplicate ids', async () => {
    const before = await count();
    const events = [uamEvent(1), uamEvent(2), uamEvent(3)];
    const ndjson = events.map((event) => JSON.stringify(event)).join('\n');
    await expect(post(ndjson, 'application/x-ndjson')).resolves.toEqual({ status: 200, body: { accepted: 3, duplicates: 0 } });
    await expect(post(JSON.stringify([events[0], uamEvent(4)]), 'application/json')).resolves.toEqual({ status: 200, body: { accepted: 1, duplicates: 1 } });
    expect(await count()).toBe(before + 4);
    expect(await testApp.db.query('SELECT 1 FROM audit_events WHERE id = $1', [events[0].id])).toHaveLength(1);
  });

  it('refuses a request with bad lines as a whole: 400 BAD_USER_INPUT listing the lines and why', async () => {
    const before = await count();
    const body = [JSON.stringify(uamEvent(5)), JSON.stringify({ ...uamEvent(6), eventTimestamp: 'not a date' }), '{'].join('\n');
    const response = await post(body, 'application/x-ndjson');
    expect(response.status).toBe(400);
    expect(response.body.errors[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      lines: [
        { line: 2, errors: [expect.stringMatching(/^eventTimestamp: /)] },
        { line: 3, errors: [expect.stringMatching(/not valid JSON/)] },
      ],
    });
    expect(await count()).toBe(before);
  });

  it('answers 413 past INGEST_MAX_BODY_BYTES, 401 without a key, 403 without INGEST, 415 for other types, and stores none of it', async () => {
    const before = await count();
    const big = Array.from({ length: 120 }, (_, index) => JSON.stringify(uamEvent(index))).join('\n');
    const tooLarge = await post(big, 'application/x-ndjson');
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.errors[0]).toMatchObject({ message: expect.stringContaining('INGEST_MAX_BODY_BYTES'), extensions: { code: 'PAYLOAD_TOO_LARGE', maxBodyBytes: 65536 } });

    const anonymous = await fetch(`${testApp.url}/api/audit/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
    expect(anonymous.status).toBe(401);
    expect((await post(JSON.stringify([uamEvent(7)]), 'application/json', auditKey)).status).toBe(403);
    expect((await post(JSON.stringify([uamEvent(8)]), 'text/plain')).status).toBe(415);
    // The 413 body held 120 valid events and the 403 one a valid event: neither stored anything.
    expect(await count()).toBe(before);
  });

  it('runs an export on demand and lists its jobs and tasks; self-audit events are exported too', async () => {
    const created = await testApp.graphql(
      {
        query: `mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) { id connectionStatus } }`,
        variables: {
          data: {
            interval: 'EVERY_24_HOURS',
            bucket: 'your-s3-bucket',
            path: 'http-test',
            region: 'us-east-1',
            accessKeyId: sandbox.user('exporter').accessKeyId,
            secretAccessKey: sandbox.user('exporter').secretAccessKey,
          },
        },
      },
      `Bearer ${auditKey}`,
    );
    expect(created.body.errors).toBeUndefined();
    const id = created.body.data!.createS3AccessKeyExportConfiguration.id as string;

    const unknown = await testApp.graphql({ query: `mutation { runExportConfiguration(id: "${randomUUID()}") { id } }` }, auditKey);
    expect(unknown.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    const unknownJobs = await testApp.graphql({ query: `{ getAllExportJobs(exportConfigurationId: "${randomUUID()}") { id } }` }, auditKey);
    expect(unknownJobs.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');

    // The creation's own scheduler run may already be underway; either way, a manual run follows.
    const run = await testApp.graphql({ query: `mutation { runExportConfiguration(id: "${id}") { id enabled } }` }, auditKey);
    expect(run.body).toEqual({ data: { runExportConfiguration: { id, enabled: true } } });
    const total = await count();
    const deadline = Date.now() + 30_000;
    let jobs: any[] = [];
    while (Date.now() < deadline) {
      const listed = await testApp.graphql(
        { query: `{ getAllExportJobs(exportConfigurationId: "${id}") { id status trigger eventCount startTimestamp endTimestamp failureReason } }` },
        auditKey,
      );
      jobs = listed.body.data!.getAllExportJobs;
      if (jobs.some((job) => job.status === 'SUCCEEDED') && jobs.reduce((sum, job) => sum + (job.status === 'SUCCEEDED' ? job.eventCount : 0), 0) === total) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.every((job) => job.status === 'SUCCEEDED' && job.failureReason === null)).toBe(true);

    const tasks = await testApp.graphql(
      { query: `{ getAllExportJobTasks(exportJobId: "${jobs[0].id}") { id startTimestamp endTimestamp attempts offset limit status failureReason objectKey } }` },
      auditKey,
    );
    expect(tasks.body.data!.getAllExportJobTasks[0]).toMatchObject({
      attempts: 1,
      offset: 0,
      status: 'SUCCEEDED',
      failureReason: null,
      objectKey: expect.stringMatching(/^http-test\/\d{4}\/\d{2}\/\d{2}\/.+-0000000000\.ndjson\.gz$/),
    });

    const exported = (await readExports(sandbox, 'http-test/')).flatMap((object) => object.events);
    expect(exported).toHaveLength(total);
    // The service audits itself: the configuration's creation is an exported UAM event.
    expect(exported).toContainEqual(
      expect.objectContaining({
        action: 'CREATE',
        actor: expect.objectContaining({ type: 'USER', name: 'admin' }),
        auditPayload: expect.objectContaining({ version: 1, type: expect.stringMatching(/AuditPayload$/) }),
      }),
    );
  });
});
