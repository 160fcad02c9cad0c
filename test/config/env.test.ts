import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvError, parseEnv } from '../../src/config/env';
import { createLogger } from '../../src/common/logger';
import { resolveEncryptionKey } from '../../src/crypto/encryption-key';

describe('env schema', () => {
  it('applies defaults for a local run', () => {
    const env = parseEnv({});
    expect(env.DATABASE_URL).toBe('postgresql://root@127.0.0.1:5432/audit_export');
    expect(env.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(env.PORT).toBe(4000);
    expect(env.AWS_S3_FORCE_PATH_STYLE).toBe(false);
    expect(env.RUN_WORKER_IN_PROCESS).toBe(true);
  });

  it('names every bad variable and never echoes its value', () => {
    let error: unknown;
    try {
      parseEnv({ PORT: 'eighty', DATABASE_URL: 'not a url with s3cr3t', AWS_S3_FORCE_PATH_STYLE: 'maybe' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EnvError);
    const message = (error as Error).message;
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/DATABASE_URL/);
    expect(message).toMatch(/AWS_S3_FORCE_PATH_STYLE/);
    expect(message).not.toContain('s3cr3t');
  });

  it('treats empty strings as unset', () => {
    expect(parseEnv({ PORT: '' }).PORT).toBe(4000);
  });
});

describe('secret encryption key', () => {
  const logger = createLogger('silent');

  it('refuses to start in production without an explicit key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'key-'));
    expect(() => resolveEncryptionKey({ NODE_ENV: 'production', DATA_DIR: dir, SECRET_ENCRYPTION_KEY: undefined }, logger)).toThrow(
      /SECRET_ENCRYPTION_KEY is required in production/,
    );
  });

  it('rejects a key that is not 32 bytes', () => {
    expect(() => resolveEncryptionKey({ NODE_ENV: 'production', DATA_DIR: '.', SECRET_ENCRYPTION_KEY: randomBytes(16).toString('base64') }, logger)).toThrow(/32 random bytes/);
  });

  it('outside production generates one key file (owner-only) and reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'key-'));
    const warnings: string[] = [];
    const spy = { ...logger, warn: (_obj: unknown, message: string) => warnings.push(message) } as unknown as typeof logger;
    const first = resolveEncryptionKey({ NODE_ENV: 'development', DATA_DIR: dir, SECRET_ENCRYPTION_KEY: undefined }, spy);
    const second = resolveEncryptionKey({ NODE_ENV: 'development', DATA_DIR: dir, SECRET_ENCRYPTION_KEY: undefined }, spy);
    expect(first.equals(second)).toBe(true);
    expect(first.length).toBe(32);
    const file = join(dir, 'secret-encryption.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64').equals(first)).toBe(true);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/SECRET_ENCRYPTION_KEY is not set/);
  });
});
