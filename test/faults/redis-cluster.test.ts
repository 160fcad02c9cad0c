import { Cluster, Redis } from 'ioredis';
import { createExportQueue, schedulerIdFor } from '../../src/export-schedule/export-queue';
import { exportedIdsInJobOrder, ingestEvents } from '../export-job/export-fixtures';
import { startTestRedisCluster, type TestRedisCluster } from '../support/redis-cluster';
import { accessKeyInput, CREATE_ACCESS_KEY, eventually, startFaultService, storedEventIds, type FaultService } from './fault.fixture';

jest.setTimeout(180_000);

const RECONCILE_PERIOD_MS = 2_000;

/**
 * Issue #11: the whole service (API, its in-process worker, schedules, runs, readiness) against a
 * three-master Redis Cluster started by this test (REDIS_CLUSTER_NODES, a hash-tagged BULLMQ_PREFIX).
 */
describe('the service on a three-master Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let service: FaultService;

  beforeAll(async () => {
    cluster = await startTestRedisCluster();
    service = await startFaultService({
      redisClusterNodes: cluster.nodes,
      // REDIS_URL points nowhere useful: with REDIS_CLUSTER_NODES only its credentials would count.
      redisUrl: 'redis://127.0.0.1:1',
      env: { SCHEDULE_RECONCILE_PERIOD_MS: String(RECONCILE_PERIOD_MS), EXPORT_TASK_MAX_EVENTS: '300' },
    });
  });
  afterAll(async () => {
    await service?.close();
    await cluster?.close();
  });

  /** Every scheduler the cluster holds, by id, with its `every`, read back through a cluster client. */
  async function schedulersInCluster(): Promise<Map<string, number | undefined>> {
    const queue = createExportQueue({ redisUrl: 'redis://127.0.0.1:1', redisClusterNodes: service.t.app.env.REDIS_CLUSTER_NODES, prefix: service.prefix });
    try {
      const schedulers = await queue.getJobSchedulers(0, -1);
      return new Map(schedulers.map((scheduler) => [scheduler.id ?? scheduler.key, scheduler.every === undefined ? undefined : Number(scheduler.every)]));
    } finally {
      await queue.close();
    }
  }

  /** A cluster client of the test's own, closed afterwards. */
  async function withClusterClient<T>(work: (client: Cluster) => Promise<T>): Promise<T> {
    const client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
    try {
      return await work(client);
    } finally {
      client.disconnect();
    }
  }

  it('keeps all of a queue in one slot, on one of the three masters', async () => {
    expect(service.prefix).toMatch(/^\{.+\}$/);
    await service.gql(CREATE_ACCESS_KEY, { data: accessKeyInput(service.harness) });
    const keysPerNode = await Promise.all(
      cluster.ports.map(async (port) => {
        const node = new Redis({ port, host: '127.0.0.1' });
        try {
          return await node.keys(`${service.prefix}:*`);
        } finally {
          node.disconnect();
        }
      }),
    );
    // All the queue's keys on one master (the one owning the hash tag's slot), none elsewhere.
    expect(keysPerNode.filter((keys) => keys.length > 0)).toHaveLength(1);
    expect(keysPerNode.flat().length).toBeGreaterThan(0);
  });

  it('creates a scheduler with the right every, delivers every event of a run exactly once, and heals a flushed cluster from PostgreSQL', async () => {
    const created = await service.gql(CREATE_ACCESS_KEY, { data: accessKeyInput(service.harness, { interval: 'EVERY_6_HOURS' }) });
    expect(created.errors).toBeUndefined();
    const id = created.data.createS3AccessKeyExportConfiguration.id as string;
    await eventually('the scheduler in the cluster', async () => ((await schedulersInCluster()).get(schedulerIdFor(id)) === 21_600_000 ? true : undefined), 10_000);

    // A run over GraphQL: queued on the cluster, run by the worker, several tasks.
    await ingestEvents(service.t.app.prisma, 2_000);
    const run = await service.gql(`mutation($id: String!) { runExportConfiguration(id: $id) { id runRequestedAt } }`, { id });
    expect(run.errors).toBeUndefined();
    const [max] = await service.t.db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
    await eventually(
      'the run to deliver everything',
      async () => ((await service.t.db.query<{ cursor: string }>('SELECT cursor::text FROM export_configurations WHERE id = $1', [id]))[0].cursor === max.max ? true : undefined),
      60_000,
    );
    const [{ path }] = await service.t.db.query<{ path: string }>('SELECT path FROM export_configurations WHERE id = $1', [id]);
    const exported = await exportedIdsInJobOrder(service.t.app.prisma, service.harness.sandbox, `${path}/`);
    expect(exported).toEqual(await storedEventIds(service.t.db));
    expect(new Set(exported).size).toBe(exported.length);

    // Every master flushed under the running service: the reconcile loop rebuilds the schedulers.
    // A sentinel in the queue's slot (same hash tag) shows the flush took everything there; the
    // schedulers themselves may already be back by the time a new client could look (the reconcile
    // period is short), so their absence is not asserted.
    const sentinel = `${service.prefix}:flush-sentinel`;
    await withClusterClient((client) => client.set(sentinel, '1'));
    await cluster.flush();
    expect(await withClusterClient((client) => client.exists(sentinel))).toBe(0);
    await eventually(
      'the schedulers after the flush',
      async () => {
        const schedulers = await schedulersInCluster();
        const enabled = await service.t.db.query<{ id: string }>('SELECT id FROM export_configurations WHERE enabled');
        return enabled.length === schedulers.size && enabled.every((row) => schedulers.has(schedulerIdFor(row.id))) && schedulers.get(schedulerIdFor(id)) === 21_600_000
          ? true
          : undefined;
      },
      RECONCILE_PERIOD_MS * 3,
      25,
    );

    // Readiness asks the cluster.
    const ready = await fetch(`${service.t.url}/readyz`);
    expect(ready.status).toBe(200);
  });
});
