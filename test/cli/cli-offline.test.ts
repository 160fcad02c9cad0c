import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CliHarness } from './cli.fixture';

// Every CLI call is a fresh Node process (through tsx, as `npm run cli` does): about a second
// each, several seconds on a loaded 2-core machine, and these tests make many of them.
jest.setTimeout(120_000);

/**
 * What the CLI does before (or without) a working service: profiles, input file checks, and
 * failures it must report readably and without echoing secrets.
 */

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const API_KEY = 'iae_offline-test-key-never-printed';

let cli: CliHarness;
beforeAll(() => {
  cli = new CliHarness();
});
afterAll(() => {
  cli.cleanup();
});
afterEach(() => {
  for (const output of cli.transcript) {
    expect(output).not.toContain(SECRET);
    expect(output).not.toContain(API_KEY);
  }
});

test('configure stores profiles with mode 0600 and never prints the key', async () => {
  const result = await cli.run(['configure', '--host', 'http://127.0.0.1:9', '--api-key', API_KEY]);
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('Saved profile "default"');
  const other = await cli.run(['configure', '--profile', 'staging', '--host', 'http://127.0.0.1:8', '--api-key', `${API_KEY}-2`]);
  expect(other.code).toBe(0);

  expect(statSync(cli.configFile).mode & 0o777).toBe(0o600);
  const stored = JSON.parse(readFileSync(cli.configFile, 'utf8'));
  expect(stored.profiles.default).toEqual({ host: 'http://127.0.0.1:9', apiKey: API_KEY });
  expect(stored.profiles.staging.host).toBe('http://127.0.0.1:8');
});

test('configure without values and without a terminal asks for the flags instead of hanging', async () => {
  const result = await cli.run(['configure', '--profile', 'x']);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/--host <url> and --api-key <key>/);
});

test('an unconfigured profile is named, with the command that fixes it', async () => {
  const result = await cli.run(['exportConfig', 'list', '--profile', 'nowhere']);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('Profile "nowhere" is not configured');
  expect(result.stderr).toContain('audit-export configure --profile nowhere');
});

test('input files: unknown fields, wrong types, missing fields and invalid JSON name the file and field, never the secret', async () => {
  const unknown = cli.writeFile('unknown.json', {
    interval: 'EVERY_12_HOURS',
    bucket: 'your-s3-bucket',
    region: 'us-east-1',
    accessKeyId: 'AKIAEXAMPLE',
    secretAccessKey: SECRET,
    secretKey: SECRET,
  });
  let result = await cli.run(['audit', 'exportConfig', 'create:s3:accessKey', unknown]);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`${unknown}: unknown field "secretKey"`);

  const wrong = cli.writeFile('wrong.json', { interval: 'HOURLY', bucket: 'b', region: 'r', roleArn: 7 });
  result = await cli.run(['exportConfig', 'create:s3:assumedRole', wrong]);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('field "interval"');
  expect(result.stderr).toContain('field "roleArn"');

  const missing = cli.writeFile('missing.json', { interval: 'EVERY_2_HOURS', bucket: 'b', region: 'r', accessKeyId: 'AKIA' });
  result = await cli.run(['exportConfig', 'create:s3:accessKey', missing]);
  expect(result.stderr).toContain('field "secretAccessKey" is required');

  // V8 may quote the text around a JSON syntax error; here that text is the secret.
  const broken = cli.writeFile('broken.json', `{\n  "interval": "EVERY_12_HOURS",\n  "secretAccessKey": "${SECRET}" oops\n}`);
  result = await cli.run(['exportConfig', 'create:s3:accessKey', broken]);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON at line 3`));

  result = await cli.run(['exportConfig', 'update:s3:accessKey', `${cli.dir}/absent.json`]);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('absent.json: cannot read the file (ENOENT)');
});

test('connection refused exits non-zero with a readable message', async () => {
  // A port that was just free: nothing listens there.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));

  const result = await cli.run(['exportConfig', 'list', '--host', `http://127.0.0.1:${port}`, '--api-key', API_KEY]);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toContain(`Cannot reach http://127.0.0.1:${port}/api/audit/graphql`);
  expect(result.stderr).toContain('ECONNREFUSED');
});

test('HTTP and GraphQL errors exit non-zero; a server echoing the secret is redacted, even with --verbose', async () => {
  // A misbehaving server that echoes the request body back inside its error.
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${API_KEY}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ message: 'A valid API key is required', extensions: { code: 'UNAUTHENTICATED' } }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: `cannot store ${body}`, extensions: { code: 'BAD_USER_INPUT' } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    let result = await cli.run(['exportConfig', 'list', '--host', host, '--api-key', 'iae_wrong']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('UNAUTHENTICATED: A valid API key is required');

    const file = cli.writeFile('ok.json', { interval: 'EVERY_12_HOURS', bucket: 'b', region: 'r', accessKeyId: 'AKIA', secretAccessKey: SECRET });
    result = await cli.run(['--verbose', 'exportConfig', 'create:s3:accessKey', file, '--host', host, '--api-key', API_KEY]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('BAD_USER_INPUT: cannot store');
    expect(result.stderr).toContain('[REDACTED]');
    expect(result.stderr).toContain('[verbose] POST');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
