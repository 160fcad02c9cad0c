import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiKeyRepository } from '../../src/api-key/api-key.repository';
import { ApiKeyService, parseAuthorizationHeader } from '../../src/api-key/api-key.service';
import type { SelfAuditEvent, SelfAuditRecorder } from '../../src/audit-event/self-audit.port';
import { DomainError } from '../../src/common/errors';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { createTestDatabase, type TestDatabase } from '../support/database';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

describe('API keys', () => {
  let db: TestDatabase;
  let service: ApiKeyService;
  const audited: SelfAuditEvent[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const recorder: SelfAuditRecorder = { record: async (_tx, event) => void audited.push(event) };
    service = new ApiKeyService(new ApiKeyRepository(db.prisma), recorder);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('creates a random iae_ key, stores only its SHA-256 hash, and creates the user once', async () => {
    const first = await service.create({ userName: 'carol', permissions: ['AUDIT'] });
    const second = await service.create({ userName: 'carol', permissions: ['AUDIT', 'INGEST', 'AUDIT'] });

    expect(first.key).toMatch(/^iae_[A-Za-z0-9_-]{43}$/);
    expect(second.key).not.toBe(first.key);
    expect(second.permissions).toEqual(['AUDIT', 'INGEST']);
    expect(first.userId).toBe(second.userId);
    const rows = await db.query<{ key_hash: string; prefix: string }>(`SELECT key_hash, prefix FROM api_keys ORDER BY created_at`);
    expect(rows.map((row) => row.key_hash)).toEqual([first, second].map((k) => createHash('sha256').update(k.key).digest('hex')));
    expect(rows[0].prefix).toBe(first.key.slice(0, 10));
    for (const table of ['api_keys', 'users']) {
      const hits = await db.query(`SELECT 1 FROM ${table} AS r WHERE strpos(r::text, $1) > 0`, [first.key]);
      expect(hits).toHaveLength(0);
    }
    expect(audited.filter((event) => event.type === 'ApiKeyCreated')).toHaveLength(2);
    expect(JSON.stringify(audited)).not.toContain(first.key);
  });

  it('authorizes Bearer and bare keys, and tells missing/unknown/revoked (UNAUTHENTICATED) from lacking permission (FORBIDDEN)', async () => {
    const created = await service.create({ userName: 'dave', permissions: ['INGEST'] });
    await expect(service.authorize(`Bearer ${created.key}`, 'INGEST')).resolves.toMatchObject({ userName: 'dave', apiKeyId: created.id });
    await expect(service.authorize(created.key, 'INGEST')).resolves.toMatchObject({ userName: 'dave' });

    const code = (promise: Promise<unknown>) =>
      promise.then(
        () => 'OK',
        (error: DomainError) => error.code,
      );
    expect(await code(service.authorize(created.key, 'AUDIT'))).toBe('FORBIDDEN');
    expect(await code(service.authorize(undefined, 'AUDIT'))).toBe('UNAUTHENTICATED');
    expect(await code(service.authorize(`Bearer ${created.key}x`, 'INGEST'))).toBe('UNAUTHENTICATED');

    await service.revoke(created.id);
    await service.revoke(created.id);
    expect(await code(service.authorize(created.key, 'INGEST'))).toBe('UNAUTHENTICATED');
    expect(audited.filter((event) => event.type === 'ApiKeyRevoked')).toHaveLength(1);
  });

  it('refuses unknown permissions and odd user names', async () => {
    await expect(service.create({ userName: 'erin', permissions: ['ADMIN'] })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', details: { field: 'permission' } });
    await expect(service.create({ userName: 'erin', permissions: [] })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(service.create({ userName: '  ', permissions: ['AUDIT'] })).rejects.toMatchObject({ code: 'BAD_USER_INPUT', details: { field: 'user' } });
  });

  it.each([
    ['Bearer iae_abc', 'iae_abc'],
    ['bearer   iae_abc  ', 'iae_abc'],
    ['iae_abc', 'iae_abc'],
    ['', undefined],
    ['Basic a b', undefined],
  ])('parses the Authorization header %j', (header, expected) => {
    expect(parseAuthorizationHeader(header)).toBe(expected);
  });

  it('`npm run apikey:create` prints the key once on stdout, and it works', async () => {
    // The command builds the app, whose BullMQ queue writes its meta key at once: a prefix of its own, obliterated after.
    const prefix = `${process.env.BULLMQ_PREFIX ?? 'audit-export-test'}-apikey-${randomBytes(3).toString('hex')}`;
    let result: { stdout: string; stderr: string };
    try {
      result = await run(join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/api-key/api-key.command.ts', '--user', 'ops', '--permission', 'AUDIT', '--permission', 'INGEST'], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'warn', BULLMQ_PREFIX: prefix },
        timeout: 30_000,
      });
    } finally {
      const queue = createExportQueue({ redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix });
      await queue.obliterate({ force: true });
      await queue.close();
    }
    const { stdout, stderr } = result;
    const key = stdout.trim();
    expect(key).toMatch(/^iae_[A-Za-z0-9_-]{43}$/);
    expect(stderr).toContain('for user "ops" with AUDIT, INGEST');
    expect(stderr).not.toContain(key);
    await expect(service.authorize(`Bearer ${key}`, 'AUDIT')).resolves.toMatchObject({ userName: 'ops', permissions: ['AUDIT', 'INGEST'] });
  });
});
