import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/common/logger';
import { createExportQueue, schedulerIdFor } from '../../src/export-schedule/export-queue';
import { ExportScheduleRepository } from '../../src/export-schedule/export-schedule.repository';
import { BullmqExportSchedule } from '../../src/export-schedule/export-schedule.service';
import type { ExportInterval } from '../../src/generated/prisma/enums';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startExportWorker } from '../../workers/export-worker.factory';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = process.env.BULLMQ_PREFIX!;
const logger = createLogger('silent');

describe('export schedule (BullMQ job schedulers, PostgreSQL as the source of truth)', () => {
  let db: TestDatabase;
  let redis: Redis;
  let queueName: string;
  let queue: ReturnType<typeof createExportQueue>;

  const schedule = () => new BullmqExportSchedule(queue, new ExportScheduleRepository(db.prisma), logger);

  async function createConfiguration(interval: ExportInterval, enabled = true): Promise<string> {
    const id = randomUUID();
    await db.prisma.exportConfiguration.create({
      data: { id, interval, enabled, connectionStatus: 'SUCCESS', endpointType: 'S3_ACCESS_KEY', bucket: 'b', region: 'us-east-1', accessKeyId: 'AKIA', secretCiphertext: 'x' },
    });
    return id;
  }

  /** Everything Redis holds about the job schedulers, read back from Redis. */
  async function schedulersInRedis(): Promise<Map<string, { every: number | undefined; configurationId: unknown; name: string }>> {
    const found = await queue.getJobSchedulers(0, -1);
    return new Map(
      found.map((scheduler) => [
        scheduler.id ?? scheduler.key,
        { every: scheduler.every === undefined ? undefined : Number(scheduler.every), configurationId: scheduler.template?.data?.configurationId, name: scheduler.name },
      ]),
    );
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await redis.quit();
    await db.drop();
  });
  beforeEach(async () => {
    queueName = `schedule-test-${randomBytes(4).toString('hex')}`;
    queue = createExportQueue({ redisUrl: REDIS_URL, prefix: PREFIX, queueName });
    await db.query('DELETE FROM export_configurations');
  });
  afterEach(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('sync creates, updates and removes the scheduler of a configuration; job data is the id only', async () => {
    const id = await createConfiguration('EVERY_2_HOURS');
    await schedule().sync({ id, interval: 'EVERY_2_HOURS', enabled: true });
    let schedulers = await schedulersInRedis();
    expect(schedulers.get(schedulerIdFor(id))).toEqual({ every: 7_200_000, configurationId: id, name: 'scheduled-export' });
    const [next] = await queue.getJobs(['delayed', 'wait', 'prioritized']);
    expect(next.data).toEqual({ configurationId: id });

    await schedule().sync({ id, interval: 'EVERY_24_HOURS', enabled: true });
    expect((await schedulersInRedis()).get(schedulerIdFor(id))?.every).toBe(86_400_000);
    expect(await queue.getJobSchedulersCount()).toBe(1);

    await schedule().sync({ id, interval: 'EVERY_24_HOURS', enabled: false });
    expect((await schedulersInRedis()).size).toBe(0);
    await schedule().sync({ id, interval: 'EVERY_6_HOURS', enabled: true });
    await schedule().remove(id);
    schedulers = await schedulersInRedis();
    expect(schedulers.size).toBe(0);
  });

  it('rebuilds every enabled configuration scheduler, with its interval, after Redis lost everything', async () => {
    const intervals: ExportInterval[] = ['EVERY_2_HOURS', 'EVERY_4_HOURS', 'EVERY_6_HOURS', 'EVERY_12_HOURS', 'EVERY_24_HOURS'];
    const enabled = new Map<string, ExportInterval>();
    for (const interval of intervals) enabled.set(await createConfiguration(interval), interval);
    const disabled = await createConfiguration('EVERY_2_HOURS', false);

    const first = await schedule().reconcile();
    expect(first.upserted).toHaveLength(5);

    // Redis loses this deployment's keys (a flush, a failover without persistence).
    const keys = await redis.keys(`${PREFIX}:${queueName}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);
    expect(await queue.getJobSchedulersCount()).toBe(0);

    // Restart: the export worker's start-up (the same code the API process runs in-process) rebuilds them.
    const worker = await startExportWorker({
      env: { DATABASE_URL: db.url, REDIS_URL, BULLMQ_PREFIX: PREFIX, EXPORT_TASK_MAX_EVENTS: 1000, SCHEDULE_RECONCILE_PERIOD_MS: 60_000, EXPORT_RETRY_BASE_DELAY_MS: 60_000 },
      logger,
      prisma: db.prisma,
      // No events exist, so the runs the new schedulers start at once find nothing to export and never reach AWS.
      awsClients: {
        credentialsFor: () => Promise.reject(new Error('not used: there is nothing to export')),
        createS3Client: () => {
          throw new Error('not used: there is nothing to export');
        },
      },
      digestSigningKeys: {
        currentKeyId: () => Promise.reject(new Error('not used: there is nothing to export')),
        signer: () => Promise.reject(new Error('not used: there is nothing to export')),
      },
      queueName,
    });
    await worker.close();

    const schedulers = await schedulersInRedis();
    expect(schedulers.size).toBe(5);
    // The contract's values, written out (and ours: EVERY_15_MINUTES = 900,000 ms, EVERY_HOUR = 3,600,000 ms): EVERY_2_HOURS = 7,200,000 ms ... EVERY_24_HOURS = 86,400,000 ms.
    const contractMs: Record<ExportInterval, number> = {
      EVERY_15_MINUTES: 900_000,
      EVERY_HOUR: 3_600_000,
      EVERY_2_HOURS: 7_200_000,
      EVERY_4_HOURS: 14_400_000,
      EVERY_6_HOURS: 21_600_000,
      EVERY_12_HOURS: 43_200_000,
      EVERY_24_HOURS: 86_400_000,
    };
    for (const [id, interval] of enabled) {
      expect(schedulers.get(schedulerIdFor(id))).toEqual({ every: contractMs[interval], configurationId: id, name: 'scheduled-export' });
    }
    expect(schedulers.has(schedulerIdFor(disabled))).toBe(false);
    expect([...schedulers.values()].map((scheduler) => scheduler.every).sort((a, b) => a! - b!)).toEqual([7_200_000, 14_400_000, 21_600_000, 43_200_000, 86_400_000]);
  });

  it('reconcile corrects a wrong interval and removes schedulers of disabled or deleted configurations, and leaves right ones alone', async () => {
    const kept = await createConfiguration('EVERY_4_HOURS');
    const changed = await createConfiguration('EVERY_12_HOURS');
    const disabled = await createConfiguration('EVERY_2_HOURS');
    const deleted = await createConfiguration('EVERY_2_HOURS');
    await schedule().reconcile();
    // Changes committed while Redis was unreachable.
    await db.prisma.exportConfiguration.update({ where: { id: changed }, data: { interval: 'EVERY_6_HOURS' } });
    await db.prisma.exportConfiguration.update({ where: { id: disabled }, data: { enabled: false } });
    await db.prisma.exportConfiguration.delete({ where: { id: deleted } });

    const result = await schedule().reconcile();
    expect(result).toEqual({ upserted: [changed], removed: expect.arrayContaining([disabled, deleted]), unchanged: [kept] });
    const schedulers = await schedulersInRedis();
    expect([...schedulers.keys()].sort()).toEqual([schedulerIdFor(kept), schedulerIdFor(changed)].sort());
    expect(schedulers.get(schedulerIdFor(changed))?.every).toBe(21_600_000);
  });

  it('schedules the shorter intervals: EVERY_15_MINUTES every 900,000 ms, EVERY_HOUR every 3,600,000 ms', async () => {
    const quarter = await createConfiguration('EVERY_15_MINUTES');
    const hourly = await createConfiguration('EVERY_HOUR');
    await schedule().reconcile();
    const schedulers = await schedulersInRedis();
    expect(schedulers.get(schedulerIdFor(quarter))).toEqual({ every: 900_000, configurationId: quarter, name: 'scheduled-export' });
    expect(schedulers.get(schedulerIdFor(hourly))).toEqual({ every: 3_600_000, configurationId: hourly, name: 'scheduled-export' });
    await schedule().sync({ id: quarter, interval: 'EVERY_HOUR', enabled: true });
    expect((await schedulersInRedis()).get(schedulerIdFor(quarter))?.every).toBe(3_600_000);
  });
});
