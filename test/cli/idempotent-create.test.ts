import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openSandbox } from '../sandbox/sandbox.fixture';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { CliHarness, json } from './cli.fixture';

// Every CLI call is a fresh Node process (through tsx, as `npm run cli` does): about a second
// each, several seconds on a loaded 2-core machine.
jest.setTimeout(120_000);

/**
 * `exportConfig create:*` sends an Idempotency-Key and, when the answer is lost, retries with the
 * same key, so the retry does not create a second configuration. Between the CLI and the real
 * service sits a proxy that forwards every request but loses the first answer: it holds it past
 * the CLI's --timeout, or cuts the connection once the service has answered.
 */

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CLI_TIMEOUT_MS = 2_000;

type Fate = 'hold' | 'drop' | 'forward';

/** What the proxy saw of one request, and what the service answered to it. */
interface Forwarded {
  idempotencyKey: string | undefined;
  body: string;
  upstreamAnswer: string;
}

class LossyProxy {
  readonly forwarded: Forwarded[] = [];
  /** What becomes of each request in turn; later ones are forwarded. */
  fates: Fate[] = [];
  private server!: Server;
  private held: ServerResponse[] = [];
  /** Settles when the service has answered every request forwarded so far. */
  private upstreamIdle: Promise<unknown> = Promise.resolve();
  url = '';

  constructor(private readonly upstream: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const fate = this.fates.shift() ?? 'forward';
    // A retry reaches the service only after the lost attempt is done there: the retry must find
    // the committed configuration, not race it (the race is test/export-config/idempotency.test.ts's).
    await this.upstreamIdle;
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'accept', 'authorization', 'idempotency-key']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const answering = fetch(this.upstream + req.url, { method: req.method, headers, body }).then(async (response) => ({ status: response.status, text: await response.text() }));
    this.upstreamIdle = answering.catch(() => undefined);
    const answer = await answering;
    this.forwarded.push({ idempotencyKey: headers['idempotency-key'], body, upstreamAnswer: answer.text });
    if (fate === 'hold') {
      // Never answered: the CLI gives up at its --timeout.
      this.held.push(res);
    } else if (fate === 'drop') {
      req.socket.destroy();
    } else {
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.text);
    }
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let sandbox: Awaited<ReturnType<typeof openSandbox>>;
let service: TestApp;
let proxy: LossyProxy;
let cli: CliHarness;
let secret: string;

beforeAll(async () => {
  sandbox = await openSandbox();
  service = await startTestApp({ sandbox });
  proxy = new LossyProxy(service.url);
  await proxy.start();
  cli = new CliHarness();
  secret = sandbox.user('exporter').secretAccessKey;
  const key = await service.createKey('admin', ['AUDIT']);
  expect((await cli.run(['configure', '--host', proxy.url, '--api-key', key])).code).toBe(0);
});
afterAll(async () => {
  cli?.cleanup();
  await proxy?.close();
  await service?.close();
  await sandbox?.close();
});
beforeEach(() => {
  proxy.forwarded.length = 0;
  proxy.fates = [];
});
afterEach(() => {
  for (const output of cli.transcript) expect(output).not.toContain(secret);
});

function accessKeyFile(path: string): string {
  const exporter = sandbox.user('exporter');
  return cli.writeFile(`${path}.json`, {
    interval: 'EVERY_12_HOURS',
    bucket: 'your-s3-bucket',
    path,
    region: 'us-east-1',
    accessKeyId: exporter.accessKeyId,
    secretAccessKey: exporter.secretAccessKey,
  });
}

async function configurationsAt(path: string): Promise<string[]> {
  return (await service.db.query<{ id: string }>(`SELECT id FROM export_configurations WHERE path = $1`, [path])).map((row) => row.id);
}

test('each create sends a fresh Idempotency-Key and prints what it printed before', async () => {
  const file = accessKeyFile('cli-idem-plain');
  const first = await cli.run(['exportConfig', 'create:s3:accessKey', file]);
  const second = await cli.run(['exportConfig', 'create:s3:accessKey', file]);

  expect(first.stderr).toBe('');
  expect(json(first)).toEqual({
    data: {
      createS3AccessKeyExportConfiguration: {
        id: expect.stringMatching(UUID_V4),
        interval: 'EVERY_12_HOURS',
        enabled: true,
        connectionStatus: 'SUCCESS',
        endpointConfiguration: { __typename: 'S3AccessKeyEndpointConfiguration', bucket: 'your-s3-bucket', path: 'cli-idem-plain', region: 'us-east-1' },
      },
    },
  });
  expect(json(second).data.createS3AccessKeyExportConfiguration.id).not.toBe(json(first).data.createS3AccessKeyExportConfiguration.id);
  const keys = proxy.forwarded.map((request) => request.idempotencyKey);
  expect(keys).toEqual([expect.stringMatching(UUID_V4), expect.stringMatching(UUID_V4)]);
  expect(keys[0]).not.toBe(keys[1]);
  // Two runs are two creates: a new key each, so two configurations, as without the header.
  expect(await configurationsAt('cli-idem-plain')).toHaveLength(2);

  // Other commands send no key.
  json(await cli.run(['exportConfig', 'list']));
  expect(proxy.forwarded[2]!.idempotencyKey).toBeUndefined();
});

test.each([
  ['answer held past --timeout', 'hold' as const],
  ['connection cut after the service answered', 'drop' as const],
])('%s: the CLI retries with the same key, and there is one configuration, the one it prints', async (_title, fate) => {
  const path = `cli-idem-${fate}`;
  proxy.fates = [fate];
  const result = await cli.run(['exportConfig', 'create:s3:accessKey', accessKeyFile(path), '--timeout', String(CLI_TIMEOUT_MS)]);

  expect(result.code).toBe(0);
  const printed = json(result).data.createS3AccessKeyExportConfiguration;
  // The lost attempt did create the configuration; the retry answered with that one.
  expect(proxy.forwarded).toHaveLength(2);
  const [lost, retry] = proxy.forwarded;
  expect(JSON.parse(lost!.upstreamAnswer).data.createS3AccessKeyExportConfiguration.id).toBe(printed.id);
  expect(retry!.idempotencyKey).toBe(lost!.idempotencyKey);
  expect(retry!.body).toBe(lost!.body);
  expect(await configurationsAt(path)).toEqual([printed.id]);
  expect(result.stderr).toMatch(
    fate === 'hold'
      ? /the request timed out; trying again in \d+ ms with the same Idempotency-Key \(try 2 of 3\)/
      : /trying again in \d+ ms with the same Idempotency-Key \(try 2 of 3\)/,
  );
});

test('gives up after three tries, saying so', async () => {
  proxy.fates = ['drop', 'drop', 'drop'];
  const result = await cli.run(['exportConfig', 'create:s3:accessKey', accessKeyFile('cli-idem-down')]);

  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toContain(`Cannot reach ${proxy.url}/api/audit/graphql`);
  expect(result.stderr).toContain('(3 tries with the same Idempotency-Key)');
  expect(new Set(proxy.forwarded.map((request) => request.idempotencyKey)).size).toBe(1);
  expect(await configurationsAt('cli-idem-down')).toHaveLength(1);
});

test('a GraphQL error answer is not retried', async () => {
  const file = cli.writeFile('bad-bucket.json', {
    interval: 'EVERY_12_HOURS',
    bucket: 'Not_A_Bucket',
    region: 'us-east-1',
    accessKeyId: 'AKIASANDBOXEXPORTER1',
    secretAccessKey: secret,
  });
  const result = await cli.run(['exportConfig', 'create:s3:accessKey', file]);

  expect(result.code).toBe(1);
  expect(result.stderr).toContain('BAD_USER_INPUT: data.bucket');
  expect(result.stderr).not.toContain('trying again');
  expect(proxy.forwarded).toHaveLength(1);
});

test('--timeout must be a positive whole number of milliseconds', async () => {
  const result = await cli.run(['exportConfig', 'list', '--timeout', '1.5s']);
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain('must be a whole number of milliseconds');
  expect(proxy.forwarded).toHaveLength(0);
});
