import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { canonicalJson } from '../../src/idempotency/idempotency-key';
import { openSandbox } from '../sandbox/sandbox.fixture';
import { startTestApp, type GraphQLBody, type TestApp } from '../http/app.fixture';

/**
 * Idempotent creates (issue #8 item 2) over HTTP against the real app, PostgreSQL and the S3+STS
 * sandbox: the `Idempotency-Key` header, and what is really stored in `export_configurations`
 * and `idempotency_keys`.
 */

const REGION = 'us-east-1';
const ACCESS_KEY_MUTATION = `mutation($data: S3AccessKeyExportConfigurationInput!) {
  createS3AccessKeyExportConfiguration(data: $data) { id interval connectionStatus } }`;
const ASSUMED_ROLE_MUTATION = `mutation($data: S3AssumedRoleExportConfigurationInput!) {
  createS3AssumedRoleExportConfiguration(data: $data) { id interval connectionStatus } }`;

let sandbox: Awaited<ReturnType<typeof openSandbox>>;
let service: TestApp;
let queue: Queue;
let admin: string;
let secret: string;

beforeAll(async () => {
  sandbox = await openSandbox();
  // Own BullMQ namespace, removed afterwards: creates add job schedulers.
  const prefix = `${process.env.BULLMQ_PREFIX ?? 'audit-export-test'}-idempotency-${randomBytes(4).toString('hex')}`;
  service = await startTestApp({ sandbox, env: { BULLMQ_PREFIX: prefix } });
  queue = createExportQueue({ redisUrl: service.app.env.REDIS_URL, prefix });
  admin = `Bearer ${await service.createKey('admin', ['AUDIT'])}`;
  secret = sandbox.user('exporter').secretAccessKey;
});
afterAll(async () => {
  await queue?.obliterate({ force: true });
  await queue?.close();
  await service?.close();
  await sandbox?.close();
});
afterEach(() => {
  for (const body of service.responses) expect(body).not.toContain(secret);
  for (const line of service.logs) expect(line).not.toContain(secret);
});

/** The access-key input with a path of the test's own, so rows can be counted per test. */
function accessKeyInput(path: string, overrides: Record<string, unknown> = {}) {
  const exporter = sandbox.user('exporter');
  return { interval: 'EVERY_6_HOURS', bucket: 'your-s3-bucket', path, region: REGION, accessKeyId: exporter.accessKeyId, secretAccessKey: exporter.secretAccessKey, ...overrides };
}

/** POST /api/audit/graphql with an `Idempotency-Key` header (none when `key` is undefined). */
async function create(
  data: Record<string, unknown>,
  key: string | undefined,
  options: { authorization?: string; mutation?: string } = {},
): Promise<{ status: number; body: GraphQLBody }> {
  const response = await fetch(`${service.url}/api/audit/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: options.authorization ?? admin,
      ...(key !== undefined ? { 'Idempotency-Key': key } : {}),
    },
    body: JSON.stringify({ query: options.mutation ?? ACCESS_KEY_MUTATION, variables: { data } }),
  });
  const text = await response.text();
  service.responses.push(text);
  return { status: response.status, body: JSON.parse(text) as GraphQLBody };
}

function createdId(result: { body: GraphQLBody }): string {
  expect(result.body.errors).toBeUndefined();
  const data = result.body.data!;
  return (data.createS3AccessKeyExportConfiguration ?? data.createS3AssumedRoleExportConfiguration).id;
}

async function configurationsAt(path: string): Promise<string[]> {
  const rows = await service.db.query<{ id: string }>(`SELECT id FROM export_configurations WHERE path = $1 ORDER BY created_at`, [path]);
  return rows.map((row) => row.id);
}

async function keyRows(key: string) {
  return service.db.query<{ scope: string; operation: string; configuration_id: string | null }>(
    `SELECT scope, operation, configuration_id FROM idempotency_keys WHERE key = $1 ORDER BY created_at`,
    [key],
  );
}

async function createEvents(configurationId: string): Promise<number> {
  const [row] = await service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'CREATE' AND (body->'targets')::jsonb @> $1::jsonb`, [
    JSON.stringify([{ id: configurationId }]),
  ]);
  return row!.n;
}

test('the same key and input twice, one after the other: one configuration, one self-audit event, both answers carry its id', async () => {
  const key = randomUUID();
  const first = createdId(await create(accessKeyInput('idem-sequential'), key));
  const second = await create(accessKeyInput('idem-sequential'), key);

  expect(createdId(second)).toBe(first);
  expect(second.body.data!.createS3AccessKeyExportConfiguration).toEqual({ id: first, interval: 'EVERY_6_HOURS', connectionStatus: 'SUCCESS' });
  expect(await configurationsAt('idem-sequential')).toEqual([first]);
  expect(await keyRows(key)).toEqual([{ scope: expect.any(String), operation: 'createS3AccessKeyExportConfiguration', configuration_id: first }]);
  expect(await createEvents(first)).toBe(1);
});

test('the retry answers with the configuration as it is now', async () => {
  const key = randomUUID();
  const id = createdId(await create(accessKeyInput('idem-as-now'), key));
  const disabled = await service.graphql({ query: `mutation($id: String!) { disableExportConfiguration(id: $id) { id } }`, variables: { id } }, admin);
  expect(disabled.body.errors).toBeUndefined();

  const retry = await create(accessKeyInput('idem-as-now'), key, {
    mutation: `mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) { id enabled } }`,
  });
  expect(retry.body).toEqual({ data: { createS3AccessKeyExportConfiguration: { id, enabled: false } } });
});

test('the same key and input sent concurrently: exactly one configuration, every answer carries its id', async () => {
  const key = randomUUID();
  const results = await Promise.all([1, 2, 3, 4].map(() => create(accessKeyInput('idem-concurrent'), key)));

  const ids = results.map(createdId);
  const stored = await configurationsAt('idem-concurrent');
  expect(stored).toHaveLength(1);
  expect(ids).toEqual([stored[0], stored[0], stored[0], stored[0]]);
  expect((await keyRows(key)).map((row) => row.configuration_id)).toEqual(stored);
  expect(await createEvents(stored[0]!)).toBe(1);
});

test('key order in the input and equivalent spellings of the path do not make it another request', async () => {
  const key = randomUUID();
  const input = accessKeyInput('idem-order');
  const id = createdId(await create(input, key));
  const reordered = Object.fromEntries(Object.entries({ ...input, path: '/idem-order/' }).reverse());
  expect(Object.keys(reordered)[0]).toBe('secretAccessKey');

  expect(createdId(await create(reordered, key))).toBe(id);
  expect(await configurationsAt('idem-order')).toEqual([id]);
});

test('the same key with another input is CONFLICT naming the header, without the secret; nothing more is stored', async () => {
  const key = randomUUID();
  const id = createdId(await create(accessKeyInput('idem-conflict'), key));

  const otherInterval = await create(accessKeyInput('idem-conflict', { interval: 'EVERY_2_HOURS' }), key);
  expect(otherInterval.status).toBe(200);
  expect(otherInterval.body.data).toBeNull();
  expect(otherInterval.body.errors![0]!.extensions).toEqual({ code: 'CONFLICT', field: 'Idempotency-Key' });
  expect(otherInterval.body.errors![0]!.message).toMatch(/^Idempotency-Key was already used for createS3AccessKeyExportConfiguration with a different input/);

  // Only the secret differs: still another request, and the message does not show either one.
  const otherSecret = await create(accessKeyInput('idem-conflict', { secretAccessKey: `${secret}X` }), key);
  expect(otherSecret.body.errors![0]!.extensions!.code).toBe('CONFLICT');
  expect(otherSecret.body.errors![0]!.message).not.toContain(secret);

  // The same key for the other create mutation.
  const otherMutation = await create(
    { interval: 'EVERY_6_HOURS', bucket: 'your-s3-bucket', path: 'idem-conflict', region: REGION, roleArn: sandbox.role('immuta-export').arn },
    key,
    { mutation: ASSUMED_ROLE_MUTATION },
  );
  expect(otherMutation.body.errors![0]!.extensions!.code).toBe('CONFLICT');
  expect(otherMutation.body.errors![0]!.message).toContain('was already used for createS3AccessKeyExportConfiguration');

  expect(await configurationsAt('idem-conflict')).toEqual([id]);
  expect(await keyRows(key)).toHaveLength(1);
});

test('different keys make different configurations', async () => {
  const first = createdId(await create(accessKeyInput('idem-different'), randomUUID()));
  const second = createdId(await create(accessKeyInput('idem-different'), randomUUID()));

  expect(second).not.toBe(first);
  expect(await configurationsAt('idem-different')).toEqual([first, second]);
});

test('without the header every create makes a configuration, as before, and no key is stored', async () => {
  const [before] = await service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM idempotency_keys`);
  const first = createdId(await create(accessKeyInput('idem-none'), undefined));
  const second = createdId(await create(accessKeyInput('idem-none'), undefined));

  expect(second).not.toBe(first);
  expect(await configurationsAt('idem-none')).toEqual([first, second]);
  const [after] = await service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM idempotency_keys`);
  expect(after!.n).toBe(before!.n);
});

test('a bad key is BAD_USER_INPUT naming Idempotency-Key, and nothing is stored', async () => {
  const count = async (table: string) => (await service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;
  const before = { configurations: await count('export_configurations'), keys: await count('idempotency_keys'), events: await count('audit_events') };

  // Empty, too long, a space inside (also what two headers joined by ", " look like), not ASCII.
  for (const bad of ['', 'x'.repeat(256), 'two words', 'caf\u00e9']) {
    for (const mutation of [ACCESS_KEY_MUTATION, ASSUMED_ROLE_MUTATION]) {
      const data =
        mutation === ACCESS_KEY_MUTATION
          ? accessKeyInput('idem-bad')
          : { interval: 'EVERY_6_HOURS', bucket: 'your-s3-bucket', path: 'idem-bad', region: REGION, roleArn: sandbox.role('immuta-export').arn };
      const { body } = await create(data, bad, { mutation });
      expect({ bad: bad.slice(0, 10), data: body.data, extensions: body.errors?.[0]?.extensions }).toEqual({
        bad: bad.slice(0, 10),
        data: null,
        extensions: { code: 'BAD_USER_INPUT', field: 'Idempotency-Key' },
      });
      expect(body.errors![0]!.message).toMatch(/^Idempotency-Key: must be 1-255 visible ASCII characters/);
    }
  }

  expect({ configurations: await count('export_configurations'), keys: await count('idempotency_keys'), events: await count('audit_events') }).toEqual(before);
  // The longest allowed key is fine.
  const longest = '~'.repeat(255);
  expect(createdId(await create(accessKeyInput('idem-bad'), longest))).toEqual((await configurationsAt('idem-bad'))[0]);
});

test("one user's key does not collide with another user's same key", async () => {
  const other = `Bearer ${await service.createKey('second-admin', ['AUDIT'])}`;
  const key = randomUUID();
  const mine = createdId(await create(accessKeyInput('idem-users'), key));
  const theirs = createdId(await create(accessKeyInput('idem-users'), key, { authorization: other }));

  expect(theirs).not.toBe(mine);
  expect(await configurationsAt('idem-users')).toEqual([mine, theirs]);
  // Each user's retry still finds their own.
  expect(createdId(await create(accessKeyInput('idem-users'), key, { authorization: other }))).toBe(theirs);
  expect(createdId(await create(accessKeyInput('idem-users'), key))).toBe(mine);
  expect(new Set((await keyRows(key)).map((row) => row.scope)).size).toBe(2);
});

test('the assumed-role create is idempotent too', async () => {
  const key = randomUUID();
  const data = { interval: 'EVERY_12_HOURS', bucket: 'your-s3-bucket', path: 'idem-role', region: REGION, roleArn: sandbox.role('immuta-export').arn };
  const first = createdId(await create(data, key, { mutation: ASSUMED_ROLE_MUTATION }));
  expect(createdId(await create(data, key, { mutation: ASSUMED_ROLE_MUTATION }))).toBe(first);
  expect(await configurationsAt('idem-role')).toEqual([first]);
  expect((await keyRows(key))[0]!.operation).toBe('createS3AssumedRoleExportConfiguration');
});

test('what is stored holds neither the secret nor a plain hash of the input', async () => {
  const key = randomUUID();
  const input = accessKeyInput('idem-fingerprint');
  createdId(await create(input, key));

  const [row] = await service.db.query<{ json: string; request_fingerprint: string }>(
    `SELECT row_to_json(k)::text AS json, request_fingerprint FROM idempotency_keys k WHERE key = $1`,
    [key],
  );
  expect(row!.json).not.toContain(secret);
  // Plain hashes of every serialisation of the input a careless implementation might hash.
  const operation = 'createS3AccessKeyExportConfiguration';
  const serialisations = [
    JSON.stringify(input),
    canonicalJson(input),
    canonicalJson({ operation, input }),
    JSON.stringify({ operation, input }),
    `${operation}:${canonicalJson(input)}`,
  ];
  for (const text of serialisations) {
    const digest = createHash('sha256').update(text).digest();
    for (const encoded of [digest.toString('hex'), digest.toString('base64'), digest.toString('base64url')]) expect(row!.json).not.toContain(encoded);
  }
  // An HMAC-SHA256, base64url: 256 bits, nothing of the input in clear.
  expect(row!.request_fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
});

test('a key older than 24 hours no longer counts: the same key creates a new configuration', async () => {
  const key = randomUUID();
  const old = createdId(await create(accessKeyInput('idem-expiry'), key));
  await service.db.query(`UPDATE idempotency_keys SET created_at = created_at - interval '25 hours' WHERE key = $1`, [key]);

  const fresh = createdId(await create(accessKeyInput('idem-expiry'), key));
  expect(fresh).not.toBe(old);
  expect(await configurationsAt('idem-expiry')).toEqual([old, fresh]);
  // The expired row made way for the new one.
  expect((await keyRows(key)).map((row) => row.configuration_id)).toEqual([fresh]);
  expect(createdId(await create(accessKeyInput('idem-expiry'), key))).toBe(fresh);
});

test('expired keys of others are deleted by later creates, and a key whose configuration was deleted is not reused', async () => {
  const stale = randomUUID();
  createdId(await create(accessKeyInput('idem-cleanup'), stale));
  await service.db.query(`UPDATE idempotency_keys SET created_at = created_at - interval '25 hours' WHERE key = $1`, [stale]);
  const key = randomUUID();
  const id = createdId(await create(accessKeyInput('idem-cleanup'), key));
  expect(await keyRows(stale)).toEqual([]);

  const deleted = await service.graphql({ query: `mutation($id: String!) { deleteExportConfiguration(id: $id) { id } }`, variables: { id } }, admin);
  expect(deleted.body.errors).toBeUndefined();
  // The key row stays (configuration_id set to null): a late retry must not bring it back.
  expect((await keyRows(key)).map((row) => row.configuration_id)).toEqual([null]);
  const late = await create(accessKeyInput('idem-cleanup'), key);
  expect(late.body.errors![0]!.extensions).toEqual({ code: 'CONFLICT', field: 'Idempotency-Key' });
  expect(late.body.errors![0]!.message).toContain('has since been deleted');
  expect(await configurationsAt('idem-cleanup')).toHaveLength(1);
});

test('canonicalJson sorts keys at every level and keeps array order', () => {
  expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}');
});
