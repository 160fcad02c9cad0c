import { createExportQueue, schedulerIdFor } from '../../src/export-schedule/export-queue';
import { startTestRedisServer, type TestRedisServer } from '../support/redis-server';
import { accessKeyInput, CREATE_ACCESS_KEY, eventually, startFaultService, type FaultService } from './fault.fixture';

jest.setTimeout(120_000);

/** The contract's intervals in milliseconds, written out rather than read from the code under test. */
const EVERY_MS: Record<string, number> = { EVERY_2_HOURS: 7_200_000, EVERY_4_HOURS: 14_400_000, EVERY_6_HOURS: 21_600_000, EVERY_12_HOURS: 43_200_000, EVERY_24_HOURS: 86_400_000 };
const RECONCILE_PERIOD_MS = 2_000;
// ioredis waits up to 2 s between reconnection attempts; the pass itself takes a few milliseconds.
const RECONNECT_ALLOWANCE_MS = 3_000;

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

    const answers: Array<{ name: string; ms: number; errors: unknown }> = [];
    const record = async (name: string, pending: Promise<{ data: any; errors?: unknown; ms: number }>) => {
      const answer = await pending;
      answers.push({ name, ms: answer.ms, errors: answer.errors });
      return answer;
    };
    // A client that did not get its answer retries with the same Idempotency-Key: one configuration.
    const input = accessKeyInput(service.harness, { interval: 'EVERY_12_HOURS' });
    const created = await record('create', service.gql(CREATE_ACCESS_KEY, { data: input }, { 'idempotency-key': 'create-during-outage' }));
    const retried = await record('create (retry)', service.gql(CREATE_ACCESS_KEY, { data: input }, { 'idempotency-key': 'create-during-outage' }));
    const createdId = created.data.createS3AccessKeyExportConfiguration.id as string;
    expect(retried.data.createS3AccessKeyExportConfiguration.id).toBe(createdId);
    expect(await service.t.db.query('SELECT id FROM export_configurations WHERE path = $1', [input.path])).toEqual([{ id: createdId }]);
    await record(
      'update',
      service.gql(`mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { id interval } }`, {
        data: { id: kept.data.createS3AccessKeyExportConfiguration.id, interval: 'EVERY_24_HOURS' },
      }),
    );
    await record(
      'disable',
      service.gql(`mutation($id: String!) { disableExportConfiguration(id: $id) { id enabled } }`, { id: toDisable.data.createS3AccessKeyExportConfiguration.id }),
    );
    await record('delete', service.gql(`mutation($id: String!) { deleteExportConfiguration(id: $id) { id } }`, { id: toDelete.data.createS3AccessKeyExportConfiguration.id }));
    await record('test', service.gql(`mutation($id: String!) { testExportConfigurationConnection(id: $id) { id connectionStatus } }`, { id: createdId }));
    const run = await record('run', service.gql(`mutation($id: String!) { runExportConfiguration(id: $id) { id runRequestedAt } }`, { id: createdId }));
    await record('disable+enable', service.gql(`mutation($id: String!) { disableExportConfiguration(id: $id) { id } }`, { id: createdId }));
    await record('enable', service.gql(`mutation($id: String!) { enableExportConfiguration(id: $id) { id enabled } }`, { id: createdId }));
    for (const answer of answers) {
      expect({ name: answer.name, errors: answer.errors }).toEqual({ name: answer.name, errors: undefined });
      expect({ name: answer.name, withinBound: answer.ms < 5_000 }).toEqual({ name: answer.name, withinBound: true });
    }
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
    expect(restoredAfterMs).toBeLessThanOrEqual(RECONCILE_PERIOD_MS + RECONNECT_ALLOWANCE_MS);

    // Flushed while everything runs (no restart of the service): back within one period.
    await redis.flush();
    expect((await schedulersInRedis()).size).toBe(0);
    await eventually('the schedulers after a flush', schedulersMatchPostgres, RECONCILE_PERIOD_MS + 500, 25);

    // The process kept serving throughout.
    const list = await service.gql(`{ getAllExportConfigurations { id } }`);
    expect(list.data.getAllExportConfigurations).toHaveLength(3);
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
