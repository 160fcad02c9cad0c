import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/common/logger';
import { SecretBox } from '../../src/crypto/secret-box';
import { enqueueNotifications, NotificationDeliveryRepository } from '../../src/notification/notification-delivery.repository';
import { NotificationTargetRepository } from '../../src/notification/notification-target.repository';
import { rotateNotificationTargetSecrets } from '../../src/notification/notification-secret-rotation';
import { NotificationDispatcher } from '../../src/notification/notification.dispatcher';
import { NotificationService } from '../../src/notification/notification.service';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** A local HTTP server whose answers the test chooses, recording every request. */
async function startServer(answer: (count: number) => { status: number; headers?: Record<string, string> } | 'hang') {
  const requests: Array<{ url: string; headers: Record<string, string | string[] | undefined>; body: string }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const reply = answer(requests.length);
      if (reply === 'hang') return; // never answers: the sender's timeout must end the try
      res.writeHead(reply.status, reply.headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('NotificationDispatcher against PostgreSQL and local HTTP servers', () => {
  let db: TestDatabase;
  const firstKey = randomBytes(32);
  const secretBox = new SecretBox(firstKey);
  const logs: string[] = [];
  const logger = createLogger('trace', 'test', { write: (line: string) => void logs.push(line) });
  const servers: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    await db?.drop();
  });

  async function configurationWithTargets(targets: Array<{ type: 'WEBHOOK' | 'SLACK'; url: string; secret?: string }>): Promise<string> {
    const id = randomUUID();
    await db.prisma.exportConfiguration.create({
      data: {
        id,
        interval: 'EVERY_2_HOURS',
        connectionStatus: 'SUCCESS',
        endpointType: 'S3_ASSUMED_ROLE',
        bucket: 'your-s3-bucket',
        path: 'p',
        region: 'us-east-1',
        roleArn: 'arn:aws:iam::123456789012:role/x',
      },
    });
    const service = new NotificationService(new NotificationTargetRepository(db.prisma), new NotificationDeliveryRepository(db.prisma), secretBox, async () => true);
    service.validate(targets, 'data.notificationTargets');
    await service.replace(id, targets);
    return id;
  }

  async function raise(configurationId: string, event: 'export.failed' | 'export.recovered'): Promise<void> {
    await db.prisma.$transaction((tx) =>
      enqueueNotifications(
        tx,
        { configurationId, bucket: 'your-s3-bucket', path: 'p', cursor: 0n, consecutiveFailures: 1, lastError: 'AccessDenied', event, disabled: false },
        new Date(),
      ),
    );
  }

  const dispatcher = (options: Partial<{ maxAttempts: number; timeoutMs: number; retryBaseDelayMs: number }> = {}) =>
    new NotificationDispatcher(
      new NotificationDeliveryRepository(db.prisma),
      secretBox,
      { timeoutMs: options.timeoutMs ?? 2_000, maxAttempts: options.maxAttempts ?? 5, retryBaseDelayMs: options.retryBaseDelayMs ?? 100, batchSize: 10 },
      logger,
    );

  async function deliveries(configurationId: string) {
    return db.query<{ status: string; attempts: number; last_error: string | null; response_status: number | null }>(
      `SELECT d.status::text, d.attempts, d.last_error, d.response_status FROM notification_deliveries d WHERE d.configuration_id = $1 ORDER BY d.created_at`,
      [configurationId],
    );
  }

  it('retries a failed try with backoff, signs every try, and records the outcome', async () => {
    const server = await startServer((count) => ({ status: count === 1 ? 500 : 204 }));
    servers.push(server);
    const id = await configurationWithTargets([{ type: 'WEBHOOK', url: `${server.url.replace('http://', 'http://u:topsecretpw@')}/hook`, secret: 'sign-me' }]);
    await raise(id, 'export.failed');

    const slow = { retryBaseDelayMs: 1_500 };
    await dispatcher(slow).runOnce();
    expect(await deliveries(id)).toEqual([{ status: 'PENDING', attempts: 1, last_error: 'HTTP 500', response_status: 500 }]);
    // Not due yet: the next pass right away sends nothing.
    await dispatcher(slow).runOnce();
    expect(server.requests).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    await dispatcher(slow).runOnce();
    expect(await deliveries(id)).toEqual([{ status: 'SUCCEEDED', attempts: 2, last_error: null, response_status: 204 }]);

    expect(server.requests).toHaveLength(2);
    for (const request of server.requests) {
      const timestamp = request.headers['x-audit-export-timestamp'] as string;
      expect(request.headers['x-audit-export-signature']).toBe(`sha256=${createHmac('sha256', 'sign-me').update(`${timestamp}.${request.body}`).digest('hex')}`);
      expect(request.headers['x-audit-export-event']).toBe('export.failed');
      expect(request.headers.authorization).toBe(`Basic ${Buffer.from('u:topsecretpw').toString('base64')}`);
    }
    // Same delivery, same id and body on the retry.
    expect(server.requests[0].headers['x-audit-export-delivery']).toBe(server.requests[1].headers['x-audit-export-delivery']);
    expect(server.requests[0].body).toBe(server.requests[1].body);
    expect(JSON.parse(server.requests[0].body)).toMatchObject({
      event: 'export.failed',
      configurationId: id,
      bucket: 'your-s3-bucket',
      path: 'p',
      lastError: 'AccessDenied',
      consecutiveFailures: 1,
    });
    // Neither the secret nor the URL's password is logged.
    expect(logs.join('\n')).not.toMatch(/sign-me|topsecretpw/);
  });

  it('ends a try that gets no answer at the timeout, does not follow redirects, and gives up after the last attempt', async () => {
    const hanging = await startServer(() => 'hang');
    const elsewhere = await startServer(() => ({ status: 204 }));
    const redirecting = await startServer(() => ({ status: 302, headers: { location: `${elsewhere.url}/stolen` } }));
    servers.push(hanging, elsewhere, redirecting);
    const id = await configurationWithTargets([
      { type: 'WEBHOOK', url: `${hanging.url}/slow` },
      { type: 'SLACK', url: `${redirecting.url}/moved` },
    ]);
    await raise(id, 'export.recovered');

    const started = Date.now();
    await dispatcher({ timeoutMs: 300, maxAttempts: 2 }).runOnce();
    expect(Date.now() - started).toBeLessThan(5_000);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await dispatcher({ timeoutMs: 300, maxAttempts: 2 }).runOnce();

    const rows = await deliveries(id);
    expect(rows).toEqual(
      expect.arrayContaining([
        { status: 'FAILED', attempts: 2, last_error: 'timed out after 300 ms', response_status: null },
        { status: 'FAILED', attempts: 2, last_error: 'HTTP 302', response_status: 302 },
      ]),
    );
    expect(elsewhere.requests).toEqual([]);
    const slack = JSON.parse(redirecting.requests[0].body);
    expect(slack).toEqual({ text: expect.stringContaining('recovered'), blocks: expect.any(Array) });
    expect(redirecting.requests[0].headers['x-audit-export-signature']).toBeUndefined();
  });

  it('sends each delivery once when several processes run the loop (SKIP LOCKED claims)', async () => {
    const server = await startServer(() => ({ status: 200 }));
    servers.push(server);
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const id = await configurationWithTargets([
        { type: 'WEBHOOK', url: `${server.url}/c${i}` },
        { type: 'WEBHOOK', url: `${server.url}/d${i}` },
      ]);
      await raise(id, 'export.failed');
      ids.push(id);
    }
    await Promise.all([dispatcher().runOnce(), dispatcher().runOnce(), dispatcher().runOnce()]);
    const seen = server.requests.map((request) => request.headers['x-audit-export-delivery']);
    expect(seen).toHaveLength(12);
    expect(new Set(seen).size).toBe(12);
    for (const id of ids) expect((await deliveries(id)).every((row) => row.status === 'SUCCEEDED' && row.attempts === 1)).toBe(true);
  });

  it('refuses target URLs that are not http(s), naming the entry', () => {
    const service = new NotificationService(new NotificationTargetRepository(db.prisma), new NotificationDeliveryRepository(db.prisma), secretBox, async () => true);
    expect(() =>
      service.validate(
        [
          { type: 'WEBHOOK', url: 'https://ok.example/hook' },
          { type: 'SLACK', url: 'javascript:alert(1)' },
        ],
        'data.notificationTargets',
      ),
    ).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', details: { field: 'data.notificationTargets[1].url' } }));
    expect(() => service.validate([{ type: 'WEBHOOK', url: 'not a url' }], 'data.notificationTargets')).toThrow(
      expect.objectContaining({ details: { field: 'data.notificationTargets[0].url' } }),
    );
  });

  it('re-encrypts target secrets under a new key (rotate-secret-key), so signing survives dropping the old one', async () => {
    const server = await startServer(() => ({ status: 204 }));
    servers.push(server);
    const id = await configurationWithTargets([{ type: 'WEBHOOK', url: `${server.url}/rotated`, secret: 'rotate-me' }]);
    const newKey = randomBytes(32);
    // The current key is new; the one the secret was sealed with is a previous key.
    const ring = new SecretBox(newKey, [firstKey]);
    const first = await rotateNotificationTargetSecrets(new NotificationTargetRepository(db.prisma), ring);
    expect(first.failed).toEqual([]);
    expect(first.reEncrypted).toBeGreaterThanOrEqual(1);
    const again = await rotateNotificationTargetSecrets(new NotificationTargetRepository(db.prisma), ring);
    expect(again.reEncrypted).toBe(0);

    // Only the new key now: the delivery is still signed with the same secret.
    const onlyNew = new SecretBox(newKey);
    await raise(id, 'export.failed');
    await new NotificationDispatcher(
      new NotificationDeliveryRepository(db.prisma),
      onlyNew,
      { timeoutMs: 2_000, maxAttempts: 2, retryBaseDelayMs: 100, batchSize: 50 },
      logger,
    ).runOnce();
    const [request] = server.requests;
    const timestamp = request.headers['x-audit-export-timestamp'] as string;
    expect(request.headers['x-audit-export-signature']).toBe(`sha256=${createHmac('sha256', 'rotate-me').update(`${timestamp}.${request.body}`).digest('hex')}`);
  });
});
