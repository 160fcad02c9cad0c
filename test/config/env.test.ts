import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvError, isLocalDevelopment, parseEnv, SECRET_ENV_VARS } from '../../src/config/env';
import { createLogger } from '../../src/common/logger';
import { MissingEncryptionKeyError, resolveEncryptionKeys } from '../../src/crypto/encryption-key';

/** The EnvError parseEnv throws for `source`; fails the test when it parses. */
function envError(source: Record<string, string>): EnvError {
  try {
    parseEnv(source);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvError);
    return error as EnvError;
  }
  throw new Error('expected parseEnv to refuse the environment');
}

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

  it('reads EXPORT_COMPRESSION_CONCURRENCY (default: twice the cores) and refuses zero', () => {
    expect(parseEnv({}).EXPORT_COMPRESSION_CONCURRENCY).toBe(2 * availableParallelism());
    expect(parseEnv({ EXPORT_COMPRESSION_CONCURRENCY: '3' }).EXPORT_COMPRESSION_CONCURRENCY).toBe(3);
    expect(envError({ EXPORT_COMPRESSION_CONCURRENCY: '0' }).message).toMatch(/EXPORT_COMPRESSION_CONCURRENCY/);
  });

  it('reads EXPORT_TASK_CONCURRENCY (default: the cores) and refuses zero', () => {
    expect(parseEnv({}).EXPORT_TASK_CONCURRENCY).toBe(availableParallelism());
    expect(parseEnv({ EXPORT_TASK_CONCURRENCY: '4' }).EXPORT_TASK_CONCURRENCY).toBe(4);
    expect(envError({ EXPORT_TASK_CONCURRENCY: '0' }).message).toMatch(/EXPORT_TASK_CONCURRENCY/);
  });

  it('reads REDIS_CLUSTER_NODES as host:port pairs and then wants a hash tag in BULLMQ_PREFIX', () => {
    expect(parseEnv({}).REDIS_CLUSTER_NODES).toBeUndefined();
    const env = parseEnv({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b:7001,[::1]:7002', BULLMQ_PREFIX: '{audit-export}' });
    expect(env.REDIS_CLUSTER_NODES).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(envError({ REDIS_CLUSTER_NODES: '10.0.0.1', BULLMQ_PREFIX: '{audit-export}' }).message).toMatch(/REDIS_CLUSTER_NODES: "10.0.0.1" is not host:port/);
    expect(envError({ REDIS_CLUSTER_NODES: '10.0.0.1:7000' }).message).toMatch(/BULLMQ_PREFIX: must contain a Redis Cluster hash tag/);
  });

  it('treats empty strings as unset', () => {
    expect(parseEnv({ PORT: '' }).PORT).toBe(4000);
    expect(parseEnv({ NODE_ENV: '' }).NODE_ENV).toBe('production');
  });

  it('is production unless NODE_ENV is explicitly development or test', () => {
    expect(parseEnv({}).NODE_ENV).toBe('production');
    expect(isLocalDevelopment(parseEnv({}))).toBe(false);
    expect(isLocalDevelopment(parseEnv({ NODE_ENV: 'production' }))).toBe(false);
    expect(isLocalDevelopment(parseEnv({ NODE_ENV: 'development' }))).toBe(true);
    expect(isLocalDevelopment(parseEnv({ NODE_ENV: 'test' }))).toBe(true);
    expect(envError({ NODE_ENV: 'dev' }).message).toMatch(/NODE_ENV/);
  });

  it('flags both encryption-key variables as secrets', () => {
    expect(SECRET_ENV_VARS).toEqual(expect.arrayContaining(['SECRET_ENCRYPTION_KEY', 'SECRET_ENCRYPTION_PREVIOUS_KEYS']));
  });

  it('reads the metrics variables; METRICS_TOKEN is a secret, refused when short without being printed', () => {
    expect(SECRET_ENV_VARS).toContain('METRICS_TOKEN');
    const env = parseEnv({ METRICS_TOKEN: 'a-long-enough-metrics-token', METRICS_PORT: '9464' });
    expect(env).toMatchObject({ METRICS_TOKEN: 'a-long-enough-metrics-token', METRICS_PORT: 9464, METRICS_COLLECT_TIMEOUT_MS: 2000 });
    expect(parseEnv({}).METRICS_TOKEN).toBeUndefined();
    const message = envError({ METRICS_TOKEN: 'short-secret' }).message;
    expect(message).toMatch(/METRICS_TOKEN/);
    expect(message).not.toContain('short-secret');
  });
});

describe('secret encryption key variables', () => {
  const key = () => randomBytes(32).toString('base64');

  it('decode SECRET_ENCRYPTION_KEY and the comma-separated SECRET_ENCRYPTION_PREVIOUS_KEYS', () => {
    const [current, first, second] = [key(), key(), randomBytes(32).toString('base64url')];
    const env = parseEnv({ SECRET_ENCRYPTION_KEY: current, SECRET_ENCRYPTION_PREVIOUS_KEYS: ` ${first} ,${second},` });
    expect(env.SECRET_ENCRYPTION_KEY!.equals(Buffer.from(current, 'base64'))).toBe(true);
    expect(env.SECRET_ENCRYPTION_PREVIOUS_KEYS.map((buffer) => buffer.toString('base64url'))).toEqual([Buffer.from(first, 'base64').toString('base64url'), second]);
    expect(parseEnv({}).SECRET_ENCRYPTION_PREVIOUS_KEYS).toEqual([]);
  });

  it('rejects a key that is not 32 bytes of base64, naming the variable and never the value', () => {
    for (const bad of [randomBytes(16).toString('base64'), randomBytes(33).toString('base64'), `${key().slice(0, 40)}!!!!`, 'not-a-key s3cr3t']) {
      const message = envError({ SECRET_ENCRYPTION_KEY: bad }).message;
      expect(message).toMatch(/SECRET_ENCRYPTION_KEY: must be 32 random bytes/);
      expect(message).toMatch(/openssl rand -base64 32/);
      expect(message).not.toContain(bad);
      expect(message).not.toContain('s3cr3t');
    }
  });

  it('names the position of a bad previous key and no value of the list', () => {
    const good = [key(), key()];
    const bad = randomBytes(31).toString('base64');
    const message = envError({ SECRET_ENCRYPTION_KEY: key(), SECRET_ENCRYPTION_PREVIOUS_KEYS: `${good[0]},${bad},${good[1]}` }).message;
    expect(message).toMatch(/SECRET_ENCRYPTION_PREVIOUS_KEYS: entry 2 of 3 .*must be 32 random bytes/);
    expect(message).not.toMatch(/SECRET_ENCRYPTION_KEY:/);
    for (const value of [...good, bad]) expect(message).not.toContain(value);
  });
});

describe('secret encryption keyring', () => {
  const logger = createLogger('silent');
  const spyLogger = (warnings: string[]) => ({ ...logger, warn: (_obj: unknown, message: string) => warnings.push(message) }) as unknown as typeof logger;

  it('refuses to start outside local development without an explicit key, and writes no key file', async () => {
    for (const source of [{ NODE_ENV: 'production' }, {}]) {
      const dir = await mkdtemp(join(tmpdir(), 'key-'));
      const warnings: string[] = [];
      let error: unknown;
      try {
        resolveEncryptionKeys(parseEnv({ ...source, DATA_DIR: dir }), spyLogger(warnings));
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(MissingEncryptionKeyError);
      expect((error as MissingEncryptionKeyError).code).toBe('SECRET_ENCRYPTION_KEY_REQUIRED');
      expect((error as Error).message).toMatch(/SECRET_ENCRYPTION_KEY is required/);
      expect((error as Error).message).toMatch(/openssl rand -base64 32/);
      expect(await readdir(dir)).toEqual([]);
      expect(warnings).toEqual([]);
    }
  });

  it('uses SECRET_ENCRYPTION_KEY as the current key and the previous keys as given, without a warning', () => {
    const [current, previous] = [randomBytes(32), randomBytes(32)];
    const warnings: string[] = [];
    const keys = resolveEncryptionKeys(
      parseEnv({ SECRET_ENCRYPTION_KEY: current.toString('base64'), SECRET_ENCRYPTION_PREVIOUS_KEYS: previous.toString('base64'), DATA_DIR: '/nonexistent' }),
      spyLogger(warnings),
    );
    expect(keys.current.equals(current)).toBe(true);
    expect(keys.previous.map((buffer) => buffer.toString('hex'))).toEqual([previous.toString('hex')]);
    expect(warnings).toEqual([]);
  });

  it('in local development generates one key file (owner-only), reuses it, and warns loudly at every start', async () => {
    for (const nodeEnv of ['development', 'test']) {
      const dir = await mkdtemp(join(tmpdir(), 'key-'));
      const warnings: string[] = [];
      const first = resolveEncryptionKeys(parseEnv({ NODE_ENV: nodeEnv, DATA_DIR: dir }), spyLogger(warnings)).current;
      const second = resolveEncryptionKeys(parseEnv({ NODE_ENV: nodeEnv, DATA_DIR: dir }), spyLogger(warnings)).current;
      expect(first.equals(second)).toBe(true);
      expect(first.length).toBe(32);
      const file = join(dir, 'secret-encryption.key');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64').equals(first)).toBe(true);
      expect(warnings).toHaveLength(2);
      for (const warning of warnings) {
        expect(warning).toMatch(/LOCAL DEVELOPMENT MODE/);
        expect(warning).toMatch(/SECRET_ENCRYPTION_KEY is not set/);
        expect(warning).toContain(file);
        expect(warning).toMatch(/Production .* refuses to start without SECRET_ENCRYPTION_KEY/);
        expect(warning).not.toContain(first.toString('base64'));
      }
    }
  });
});
