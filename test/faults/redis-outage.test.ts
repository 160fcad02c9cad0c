import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, Kind, parse, type OperationDefinitionNode } from 'graphql';
import { createExportQueue, schedulerIdFor } from '../../src/export-schedule/export-queue';
import { startTestRedisServer, type TestRedisServer } from '../support/redis-server';
import { accessKeyInput, CREATE_ACCESS_KEY, eventually, startFaultService, type FaultService } from './fault.fixture';

jest.setTimeout(120_000);

/** The contract's intervals in milliseconds, written out rather than read from the code under test. */
const EVERY_MS: Record<string, number> = { EVERY_2_HOURS: 7_200_000, EVERY_4_HOURS: 14_400_000, EVERY_6_HOURS: 21_600_000, EVERY_12_HOURS: 43_200_000, EVERY_24_HOURS: 86_400_000 };
const RECONCILE_PERIOD_MS = 2_000;
// ioredis waits up to 2 s between reconnection attempts; the pass itself takes a few milliseconds.
const RECONNECT_ALLOWANCE_MS = 3_000;

/**
 * Every mutation of the API, read from the committed schema.graphql (test/graphql/schema.test.ts
 * holds it equal to the executable schema): a mutation added later is in this list at once, and
 * the outage test below fails until it sends it too.
 */
function schemaMutationNames(): string[] {
  const schema = buildSchema(readFileSync(join(__dirname, '../../schema.graphql'), 'utf8'));
  return Object.keys(schema.getMutationType()?.getFields() ?? {}).sort();
}

/** The top-level fields of a mutation document: what it asks the API to do. */
function mutationFieldsOf(document: string): string[] {
  const operation = parse(document).definitions.find((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
  if (operation?.operation !== 'mutation') throw new Error(`not a mutation: ${document}`);
  return operation.selectionSet.selections.flatMap((selection) => (selection.kind === Kind.FIELD ? [selection.name.value] : []));
}

describe('Redis stopped, restarted and flushed under a running service', () => {
  let redis: TestRedisServer;
  let service: FaultService;

  beforeAll(async () => {
    redis = await startTestRedisServer();
    service = await startFaultService({ redisUrl: redis.url, env: { SCHEDULE_RECONCILE_PERIOD_MS: String(RECONCILE_PERIOD_MS) } });
  });
  afterAll(async () => {
    await redis.start().catch(() => undefined);
    await service?.close();
    await redis.close();
  });

  /** Every scheduler in Redis, by configuration id, with its `every`; read back from Redis itself. */
  async function schedulersInRedis(): Promise<Map<string, number | undefined>> {
    const queue = createExportQueue({ redisUrl: redis.url, prefix: service.prefix });
    try {
      const schedulers = await queue.getJobSchedulers(0, -1);
      return new Map(schedulers.map((scheduler) => [scheduler.id ?? scheduler.key, scheduler.every === undefined ? undefined : Number(scheduler.every)]));
    } finally {
      await queue.close();
    }
  }

  /** Resolves once Redis holds exactly the schedulers PostgreSQL says it should, with the right `every`. */
  async function schedulersMatchPostgres(): Promise<true | undefined> {
    const configurations = await service.t.db.query<{ id: string; interval: string; enabled: boolean }>('SELECT id, interval::text, enabled FROM export_configurations');
    const schedulers = await schedulersInRedis();
    const expected = configurations.filter((configuration) => configuration.enabled);
    if (schedulers.size !== expected.length) return undefined;
    return expected.every((configuration) => schedulers.get(schedulerIdFor(configuration.id)) === EVERY_MS[configuration.interval]) ? true : undefined;
  }

  it('answers every mutation within 5 s while Redis is down, and has every scheduler back within one reconcile period after it returns or is flushed', async () => {
    const kept = await service.gql(CREATE_ACCESS_KEY, { data: accessKeyInput(service.harness, { interval: 'EVERY_6_HOURS' }) });
    const toDisable = await service.gql(CREATE_ACCESS_KEY, { data: accessKeyInput(service.harness) });
    const toDelete = await service.gql(CREATE_ACCESS_KEY, { data: accessKeyInput(service.harness) });
    expect([kept.errors, toDisable.errors, toDelete.errors]).toEqual([undefined, undefined, undefined]);
    await eventually('the first schedulers', schedulersMatchPostgres, 10_000);

    await redis.stop();

    const answers: Array<{ name: string; mutations: string[]; ms: number; errors: unknown }> = [];
    const record = async (name: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
      const answer = await service.gql(query, variables, headers);
      answers.push({ name, mutations: mutationFieldsOf(query), ms: answer.ms, errors: answer.errors });
      return answer;
    };
    // A client that did not get its answer retries with the same Idempotency-Key: one configuration.
    const input = accessKeyInput(service.harness, { interval: 'EVERY_12_HOURS' });
    const created = await record('create', CREATE_ACCESS_KEY, { data: input }, { 'idempotency-key': 'create-during-outage' });
    const retried = await record('create (retry)', CREATE_ACCESS_KEY, { data: input }, { 'idempotency-key': 'create-during-outage' });
    const createdId = created.data.createS3AccessKeyExportConfiguration.id as string;
    expect(retried.data.createS3AccessKeyExportConfiguration.id).toBe(createdId);
    expect(await service.t.db.query('SELECT id FROM export_configurations WHERE path = $1', [input.path])).toEqual([{ id: createdId }]);
    await record('update', `mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { id interval } }`, {
      data: { id: kept.data.createS3AccessKeyExportConfiguration.id, interval: 'EVERY_24_HOURS' },
    });
    await record('disable', `mutation($id: String!) { disableExportConfiguration(id: $id) { id enabled } }`, { id: toDisable.data.createS3AccessKeyExportConfiguration.id });
    await record('delete', `mutation($id: String!) { deleteExportConfiguration(id: $id) { id } }`, { id: toDelete.data.createS3AccessKeyExportConfiguration.id });
    await record('test', `mutation($id: String!) { testExportConfigurationConnection(id: $id) { id connectionStatus } }`, { id: createdId });
    const run = await record('run', `mutation($id: String!) { runExportConfiguration(id: $id) { id runRequestedAt } }`, { id: createdId });
    await record('disable+enable', `mutation($id: String!) { disableExportConfiguration(id: $id) { id } }`, { id: createdId });
    await record('enable', `mutation($id: String!) { enableExportConfiguration(id: $id) { id enabled } }`, { id: createdId });

    // An assumed-role configuration: its connection test cannot pass yet (no trust policy names its
    // id), which the answer says in connectionStatus, in time, without a GraphQL error.
    const { sandbox } = service.harness;
    const assumed = await record(
      'create assumed role',
      `mutation($data: S3AssumedRoleExportConfigurationInput!) { createS3AssumedRoleExportConfiguration(data: $data) { id interval connectionStatus } }`,
      { data: { interval: 'EVERY_2_HOURS', bucket: 'your-s3-bucket', path: 'faults/outage-assumed-role', region: sandbox.region, roleArn: sandbox.role('immuta-export').arn } },
    );
    const assumedId = assumed.data.createS3AssumedRoleExportConfiguration.id as string;
    expect(assumed.data.createS3AssumedRoleExportConfiguration.connectionStatus).toMatch(/not authorized to perform: sts:AssumeRole/);
    const assumedUpdate = await record(
      'update assumed role',
      `mutation($data: UpdateS3AssumedRoleExportConfigurationInput!) { updateS3AssumedRoleExportConfiguration(data: $data) { id interval } }`,
      { data: { id: assumedId, interval: 'EVERY_4_HOURS' } },
    );
    expect(assumedUpdate.data.updateS3AssumedRoleExportConfiguration.interval).toBe('EVERY_4_HOURS');

    // API keys and the digest signing key live in PostgreSQL only: Redis being down changes nothing.
    const key = await record('create API key', `mutation($data: CreateApiKeyInput!) { createApiKey(data: $data) { key apiKey { id revokedAt } } }`, {
      data: { name: 'outage-key', permissions: ['AUDIT'] },
    });
    const keyId = key.data.createApiKey.apiKey.id as string;
    const revoked = await record('revoke API key', `mutation($id: String!) { revokeApiKey(id: $id) { id revokedAt } }`, { id: keyId });
    expect(revoked.data.revokeApiKey).toEqual({ id: keyId, revokedAt: expect.any(String) });
    const rotated = await record('rotate digest signing key', `mutation { rotateDigestSigningKey { fingerprint retiredAt } }`);
    expect(rotated.data.rotateDigestSigningKey).toEqual({ fingerprint: expect.any(String), retiredAt: null });

    for (const answer of answers) {
      expect({ name: answer.name, errors: answer.errors }).toEqual({ name: answer.name, errors: undefined });
      expect({ name: answer.name, withinBound: answer.ms < 5_000 }).toEqual({ name: answer.name, withinBound: true });
    }
    // Every mutation of the schema was among them.
    expect([...new Set(answers.flatMap((answer) => answer.mutations))].sort()).toEqual(schemaMutationNames());
    // The run request is kept in PostgreSQL, not lost with the queue.
    expect(run.data.runExportConfiguration.runRequestedAt).toEqual(expect.any(String));

    // Redis comes back, empty (it keeps nothing on disk): the reconcile loop rebuilds every
    // scheduler from PostgreSQL, including the changes made while it was down.
    await redis.start();
    const back = Date.now();
    await eventually('the schedulers after Redis came back', schedulersMatchPostgres, RECONCILE_PERIOD_MS + RECONNECT_ALLOWANCE_MS, 25);
    const restoredAfterMs = Date.now() - back;
    const schedulers = await schedulersInRedis();
    expect(schedulers.get(schedulerIdFor(kept.data.createS3AccessKeyExportConfiguration.id))).toBe(86_400_000);
    expect(schedulers.get(schedulerIdFor(createdId))).toBe(43_200_000);
    expect(schedulers.has(schedulerIdFor(toDisable.data.createS3AccessKeyExportConfiguration.id))).toBe(false);
    expect(schedulers.has(schedulerIdFor(toDelete.data.createS3AccessKeyExportConfiguration.id))).toBe(false);
    expect(schedulers.get(schedulerIdFor(assumedId))).toBe(14_400_000);
    expect(restoredAfterMs).toBeLessThanOrEqual(RECONCILE_PERIOD_MS + RECONNECT_ALLOWANCE_MS);

    // Flushed while everything runs (no restart of the service): back within one period.
    await redis.flush();
    expect((await schedulersInRedis()).size).toBe(0);
    await eventually('the schedulers after a flush', schedulersMatchPostgres, RECONCILE_PERIOD_MS + 500, 25);

    // The process kept serving throughout: the three access-key configurations and the assumed-role one.
    const list = await service.gql(`{ getAllExportConfigurations { id } }`);
    expect(list.data.getAllExportConfigurations).toHaveLength(4);
  });
});

describe('Redis down when the service starts', () => {
  it('starts, serves mutations, and schedules once Redis answers', async () => {
    const redis = await startTestRedisServer();
    await redis.stop();
    const service = await startFaultService({ redisUrl: redis.url, env: { SCHEDULE_RECONCILE_PERIOD_MS: String(RECONCILE_PERIOD_MS) } });
    try {
      const created = await service.gql(CREATE_ACCESS_KEY, { data: accessKeyInput(service.harness) });
      expect(created.errors).toBeUndefined();
      expect(created.ms).toBeLessThan(5_000);
      await redis.start();
      const id = created.data.createS3AccessKeyExportConfiguration.id as string;
      await eventually(
        'the scheduler of the configuration created while Redis was down',
        async () => {
          const queue = createExportQueue({ redisUrl: redis.url, prefix: service.prefix });
          try {
            const schedulers = await queue.getJobSchedulers(0, -1);
            return schedulers.some((scheduler) => (scheduler.id ?? scheduler.key) === schedulerIdFor(id) && Number(scheduler.every) === 7_200_000) ? true : undefined;
          } finally {
            await queue.close();
          }
        },
        RECONCILE_PERIOD_MS + RECONNECT_ALLOWANCE_MS + 2_000,
      );
    } finally {
      await redis.start();
      await service.close();
      await redis.close();
    }
  });
});
