import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from '../../src/app/app';
import { REDIS_RECONNECT_MAX_DELAY_MS } from '../../src/config/redis-reconnection';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { freePort, startTestRedisServer, waitUntil, type TestRedisServer } from '../support/redis-server';
import { startFaultService, type FaultService } from './fault.fixture';

jest.setTimeout(90_000);

interface ProbeAnswer {
  status: number;
  elapsedMs: number;
  text: string;
  body: { status: string; version: string; checks?: Record<string, string> };
}

/** GET a probe, failing (instead of hanging) after `timeoutMs`. */
async function probe(url: string, timeoutMs = 5_000): Promise<ProbeAnswer> {
  const started = Date.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  return { status: response.status, elapsedMs: Date.now() - started, text, body: JSON.parse(text) as ProbeAnswer['body'] };
}

describe('readiness probes tell the truth about PostgreSQL, migrations and Redis', () => {
  let redis: TestRedisServer;
  /** Whether the test stopped `redis` and has not started it again (start() twice would start two). */
  let redisStopped = false;
  let t: TestApp;
  const prefix = `${process.env.BULLMQ_PREFIX}-readiness-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    // A Redis of this test's own: it is stopped and started again below.
    redis = await startTestRedisServer();
    t = await startTestApp({ env: { REDIS_URL: redis.url, BULLMQ_PREFIX: prefix, READINESS_CHECK_TIMEOUT_MS: '2000' } });
  });
  afterAll(async () => {
    await t?.close();
    if (redis) {
      if (redisStopped) await redis.start();
      const queue = createExportQueue({ redisUrl: redis.url, prefix });
      await queue.obliterate({ force: true });
      await queue.close();
      await redis.close();
    }
  });

  it('answers 200 with every check when all pass; /healthz is the same; /livez asks nothing', async () => {
    const ready = await probe(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', version: expect.any(String), checks: { postgres: 'ok', migrations: 'ok', redis: 'ok' } });
    expect((await probe(`${t.url}/healthz`)).body).toEqual(ready.body);
    const live = await probe(`${t.url}/livez`);
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'ok', version: ready.body.version });
  });

  it('answers 503 naming redis within 5 s while Redis is down, stays live, and is ready again once Redis is back', async () => {
    await redis.stop();
    redisStopped = true;
    const stoppedAt = Date.now();
    try {
      const down = await probe(`${t.url}/readyz`, 5_000);
      expect(down.status).toBe(503);
      expect(down.elapsedMs).toBeLessThan(5_000);
      expect(down.body).toEqual({ status: 'unavailable', version: expect.any(String), checks: { postgres: 'ok', migrations: 'ok', redis: expect.stringMatching(/^down: /) } });
      expect(down.text).not.toContain('redis://');

      const alias = await probe(`${t.url}/healthz`, 5_000);
      expect(alias.status).toBe(503);
      expect(alias.body.checks?.redis).toMatch(/^down: /);

      // Reconnection attempts fail by now: the reason is the connection error itself.
      await waitUntil(async () => /ECONNREFUSED/.test((await probe(`${t.url}/readyz`)).body.checks?.redis ?? ''), 10_000, 'the refused connection as the reason');

      const live = await probe(`${t.url}/livez`, 2_000);
      expect(live.status).toBe(200);
      expect(live.body.status).toBe('ok');

      // Down long enough for a reconnection backoff to grow: with ioredis's default (doubling
      // from 50 ms to 5 s, plus jitter) the next try after 8 s comes 3.3 s later or more.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 8_000 - (Date.now() - stoppedAt))));
    } finally {
      await redis.start();
      redisStopped = false;
    }
    // The probe's connection retries at least every second, so ready follows Redis closely.
    await waitUntil(async () => (await probe(`${t.url}/readyz`)).status === 200, 2_500, '/readyz to answer 200 once Redis is back');
    expect((await probe(`${t.url}/readyz`)).body.checks).toEqual({ postgres: 'ok', migrations: 'ok', redis: 'ok' });
  });

  it('answers 503 naming migrations when one is not recorded as applied', async () => {
    const removed = await t.db.query<Record<string, unknown>>(
      `DELETE FROM "_prisma_migrations" WHERE migration_name = (SELECT min(migration_name) FROM "_prisma_migrations") RETURNING *`,
    );
    expect(removed).toHaveLength(1);
    try {
      const answer = await probe(`${t.url}/readyz`);
      expect(answer.status).toBe(503);
      expect(answer.body.status).toBe('unavailable');
      expect(answer.body.checks).toEqual({
        postgres: 'ok',
        redis: 'ok',
        migrations: `down: 1 migration(s) not applied: ${removed[0].migration_name as string} (run npm run db:migrate)`,
      });
      expect((await probe(`${t.url}/healthz`)).status).toBe(503);
      expect((await probe(`${t.url}/livez`)).status).toBe(200);
    } finally {
      const row = removed[0];
      await t.db.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [row.id, row.checksum, row.finished_at, row.migration_name, row.logs, row.rolled_back_at, row.started_at, row.applied_steps_count],
      );
    }
    expect((await probe(`${t.url}/readyz`)).status).toBe(200);
  });

  it('bounds a PostgreSQL that accepts connections and never answers, and names no credential', async () => {
    // A "database" that takes the TCP connection and then says nothing, like a host behind a
    // dropped route: without a bound, the probe would wait for the operating system to give up.
    const sockets = new Set<Socket>();
    const silent: TcpServer = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as AddressInfo).port;
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const logs: string[] = [];
    let app: App | undefined;
    let server: Server | undefined;
    try {
      app = await createApp({
        env: {
          ...process.env,
          DATABASE_URL: `postgresql://root:${password}@127.0.0.1:${silentPort}/audit_export`,
          REDIS_URL: redis.url,
          BULLMQ_PREFIX: prefix,
          READINESS_CHECK_TIMEOUT_MS: '1000',
          PORT: String(await freePort()),
        },
        logDestination: { write: (line: string) => void logs.push(line) },
      });
      // Only the HTTP surface: app.start() would first try to reconcile schedules with this database.
      server = await new Promise<Server>((resolve) => {
        const listening = app!.http.listen(0, '127.0.0.1', () => resolve(listening));
      });
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const answer = await probe(`${url}/readyz`, 5_000);
      expect(answer.status).toBe(503);
      expect(answer.elapsedMs).toBeLessThan(3_000);
      expect(answer.body.checks).toEqual({ postgres: 'down: no answer within 1000 ms', migrations: 'down: no answer within 1000 ms', redis: 'ok' });
      expect(answer.text).not.toContain(password);
      expect((await probe(`${url}/livez`)).status).toBe(200);
    } finally {
      // Hang up on the pending connections first, so that the pool can end.
      for (const socket of sockets) socket.destroy();
      silent.close();
      if (server) await new Promise((resolve) => server!.close(resolve));
      await app?.stop();
    }
    expect(logs.join('\n')).not.toContain(password);
  });
});

/**
 * The service's stop() ends every Redis connection it opened (its queue, the in-process worker's
 * queue and two connections, the readiness probe) even while Redis is down. A connection that
 * went on reconnecting would keep the process alive after it "stopped" (this file's runner once
 * never exited), and would be seen connected again once Redis is back.
 */
describe('stopping the service while Redis is down', () => {
  it.each([
    ['lost while the service runs', true],
    ['down since before the service started', false],
  ])('ends every Redis connection it opened, Redis %s: none is back once Redis is', async (_case, connectedFirst) => {
    const redis = await startTestRedisServer();
    let service: FaultService | undefined;
    try {
      if (!connectedFirst) await redis.stop();
      service = await startFaultService({ redisUrl: redis.url });
      const { t } = service;
      if (connectedFirst) {
        await waitUntil(async () => (await probe(`${t.url}/readyz`)).status === 200, 10_000, 'the service to be ready');
        // Something to see: the check below can fail for the right reason.
        expect((await redis.otherClients()).length).toBeGreaterThanOrEqual(4);
        await redis.stop();
      }
      // Every connection has failed to reach Redis at least once, and is waiting for its next try.
      await waitUntil(async () => /ECONNREFUSED/.test((await probe(`${t.url}/readyz`)).body.checks?.redis ?? ''), 10_000, 'the refused connection as the reason');

      // Bounded: a stop that waits for Redis would not end (until Redis is back, in the finally below).
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        t.app.stop().then(() => 'stopped'),
        new Promise((resolve) => {
          timer = setTimeout(() => resolve('still stopping after 10 s'), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      expect(stopped).toBe('stopped');

      // Redis back on the same port, for longer than any reconnection delay: a connection that was
      // still trying would be connected again by now.
      await redis.start();
      await new Promise((resolve) => setTimeout(resolve, REDIS_RECONNECT_MAX_DELAY_MS + 1_500));
      expect(await redis.otherClients()).toEqual([]);
    } finally {
      await redis.start();
      await service?.close();
      await redis.close();
    }
  });
});
