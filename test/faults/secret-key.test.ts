import { spawn } from 'node:child_process';
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEnv as parseDotEnv } from 'node:util';
import { encryptionKeyId, SecretBox } from '../../src/crypto/secret-box';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { ExportConfigurationRepository } from '../../src/export-config/export-config.repository';
import { startExportWorker, type ExportWorker } from '../../workers/export-worker.factory';
import { readExports, uamEvent } from '../export-job/export-fixtures';
import { startTestApp, type TestApp } from '../http/app.fixture';
import { openSandbox } from '../sandbox/sandbox.fixture';
import { eventually } from '../support/wait';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * Secret keys that survive deployments (issue #8, item 7): the real entry points refuse to start
 * without SECRET_ENCRYPTION_KEY outside local development, and the real `rotate-secret-key`
 * command moves every stored secret to a new key, checked end to end through the app's GraphQL
 * API, PostgreSQL and the sandbox's S3 over HTTP.
 */

// Every spawned entry point is a fresh Node process through tsx: seconds each on a loaded 2-core machine.
jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '../..');
const KEY_VARIABLES = ['SECRET_ENCRYPTION_KEY', 'SECRET_ENCRYPTION_PREVIOUS_KEYS'];

interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript entry point of the repository as its own process (`--import tsx`, cwd = the root), killed after `timeoutMs`. */
function runEntryPoint(entry: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} did not exit within ${timeoutMs} ms\nstdout:\n${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** This process's environment minus `names` (jest's globalSetup sets SECRET_ENCRYPTION_KEY and NODE_ENV=test). */
function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of names) delete env[name];
  return env;
}

/** The envelope the service wrote before the keyring (`v1.<iv>.<tag>.<ciphertext>`, no key id). */
function sealV1(key: Buffer, plaintext: string, associatedData: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', ...[iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.');
}

describe('start-up without SECRET_ENCRYPTION_KEY outside local development', () => {
  let dataDir: string;

  beforeAll(async () => {
    // The entry points load `.env` from their working directory (without overriding what is set):
    // one that chooses NODE_ENV or a key would make these cases test something else.
    const dotEnv = path.join(ROOT, '.env');
    if (existsSync(dotEnv)) {
      const set = ['NODE_ENV', ...KEY_VARIABLES].filter((name) => parseDotEnv(readFileSync(dotEnv, 'utf8'))[name]);
      if (set.length > 0) throw new Error(`${dotEnv} sets ${set.join(', ')}; these tests spawn the entry points from the repository root and need them unset there`);
    }
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'secret-key-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const cases = (['src/main.ts', 'workers/export.worker.ts'] as const).flatMap((entry) => [
    { entry, nodeEnv: 'production' as string | undefined, label: 'NODE_ENV=production' },
    { entry, nodeEnv: undefined as string | undefined, label: 'NODE_ENV unset' },
  ]);

  it.each(cases)('$entry exits non-zero naming SECRET_ENCRYPTION_KEY with $label', async ({ entry, nodeEnv }) => {
    const env = {
      ...envWithout('NODE_ENV', ...KEY_VARIABLES),
      ...(nodeEnv ? { NODE_ENV: nodeEnv } : {}),
      DATA_DIR: dataDir,
      // Nothing that listens: should the process start after all, it cannot reach or change anything of the suite's.
      DATABASE_URL: 'postgresql://root@127.0.0.1:1/no_database',
      REDIS_URL: 'redis://127.0.0.1:1',
      PORT: '0',
      LOG_LEVEL: 'info',
    };
    expect(env).not.toHaveProperty('SECRET_ENCRYPTION_KEY');
    const result = await runEntryPoint(entry, env);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    expect(result.stderr).toMatch(/SECRET_ENCRYPTION_KEY is required/);
    expect(result.stderr).toContain('openssl rand -base64 32');
    // Refused before anything was generated or logged.
    expect(await readdir(dataDir)).toEqual([]);
    expect(result.stdout).toBe('');
  });

  it('rotate-secret-key refuses the same way, and names a bad previous key by its position only', async () => {
    const base = { ...envWithout('NODE_ENV', ...KEY_VARIABLES), DATA_DIR: dataDir, DATABASE_URL: 'postgresql://root@127.0.0.1:1/no_database' };
    const missing = await runEntryPoint('src/tools/rotate-secret-key.command.ts', base);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/SECRET_ENCRYPTION_KEY is required/);

    const good = randomBytes(32).toString('base64');
    const bad = randomBytes(20).toString('base64');
    const invalid = await runEntryPoint('src/tools/rotate-secret-key.command.ts', { ...base, SECRET_ENCRYPTION_KEY: good, SECRET_ENCRYPTION_PREVIOUS_KEYS: `${good},${bad}` });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/SECRET_ENCRYPTION_PREVIOUS_KEYS: entry 2 of 2 .*must be 32 random bytes/);
    expect(invalid.stderr + invalid.stdout).not.toContain(good);
    expect(invalid.stderr + invalid.stdout).not.toContain(bad);
    expect(await readdir(dataDir)).toEqual([]);
  });
});

describe('rotating the secret-encryption key with `rotate-secret-key`', () => {
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  const idA = encryptionKeyId(keyA);
  const idB = encryptionKeyId(keyB);
  const prefix = `${process.env.BULLMQ_PREFIX ?? 'audit-export-test'}-secret-key-${randomBytes(3).toString('hex')}`;
  let sandbox: Awaited<ReturnType<typeof openSandbox>>;
  let db: TestDatabase;
  let exporterSecret: string;
  let configurationId: string;
  let legacyId: string;
  const running: Array<{ t: TestApp; worker: ExportWorker }> = [];

  /** The real app (GraphQL over HTTP) and an export worker, on the shared database, with the given keys only. */
  async function startService(current: Buffer, previous: Buffer[] = []) {
    const t = await startTestApp({
      sandbox,
      db,
      env: { SECRET_ENCRYPTION_KEY: current.toString('base64'), SECRET_ENCRYPTION_PREVIOUS_KEYS: previous.map((key) => key.toString('base64')).join(','), BULLMQ_PREFIX: prefix },
    });
    const worker = await startExportWorker({
      env: t.app.env,
      logger: t.app.logger,
      prisma: t.app.prisma,
      awsClients: t.app.services.awsClients,
      digestSigningKeys: t.app.services.digestSigningKeys,
    });
    const service = { t, worker, auditKey: await t.createKey('admin', ['AUDIT']), ingestKey: await t.createKey('producer', ['INGEST']) };
    running.push(service);
    return service;
  }

  async function stopService(service: { t: TestApp; worker: ExportWorker }): Promise<void> {
    running.splice(running.indexOf(service), 1);
    await service.worker.close();
    await service.t.close();
  }

  /** Ingests `count` events over HTTP and returns their ids. */
  async function ingest(t: TestApp, ingestKey: string, count: number, from: number): Promise<string[]> {
    const events = Array.from({ length: count }, (_, index) => uamEvent(from + index));
    const response = await fetch(`${t.url}/api/audit/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ingestKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(response.status).toBe(200);
    return events.map((event) => event.id as string);
  }

  /**
   * Asks for an export over GraphQL until the configuration's cursor has reached the newest event.
   * Asked again because a manual run is skipped while the scheduler's own run holds the lock.
   */
  async function exportEverything(t: TestApp, auditKey: string, id: string): Promise<void> {
    const [{ max }] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
    let asked = 0;
    await eventually(
      `configuration ${id} to export up to sequence ${max}`,
      async () => {
        const [{ cursor }] = await db.query<{ cursor: string }>('SELECT cursor::text AS cursor FROM export_configurations WHERE id = $1', [id]);
        if (cursor === max) return true;
        if (asked++ % 20 === 0) {
          const run = await t.graphql({ query: 'mutation($id: String!) { runExportConfiguration(id: $id) { id } }', variables: { id } }, auditKey);
          expect(run.body.errors).toBeUndefined();
        }
        return undefined;
      },
      30_000,
      100,
    );
    const failed = await db.query('SELECT id, failure_reason FROM export_jobs WHERE configuration_id = $1 AND status = $2', [id, 'FAILED']);
    expect(failed).toEqual([]);
  }

  /** The sealed private keys of the digest signing keys. */
  const signingKeyCiphertexts = async () => (await db.query<{ c: string }>('SELECT private_key_ciphertext AS c FROM digest_signing_keys ORDER BY created_at')).map((row) => row.c);

  const exportedIds = async (pathPrefix: string) => (await readExports(sandbox, pathPrefix)).flatMap((object) => object.events.map((event) => event.id as string));

  /** Every row's stored ciphertext, and everything else of the row (updated_at included) as one JSON value. */
  async function snapshot(): Promise<Map<string, { ciphertext: string | null; rest: unknown }>> {
    const rows = await db.query<{ id: string; ciphertext: string | null; rest: unknown }>(
      `SELECT id, secret_ciphertext AS ciphertext, to_jsonb(c) - 'secret_ciphertext' AS rest FROM export_configurations c ORDER BY id`,
    );
    return new Map(rows.map((row) => [row.id, { ciphertext: row.ciphertext, rest: row.rest }]));
  }

  /** Inserts an access-key configuration (disabled: no scheduler) with a ciphertext given as stored. */
  async function insertConfiguration(id: string, ciphertext: string, pathName: string): Promise<void> {
    await db.query(
      `INSERT INTO export_configurations (id, interval, enabled, connection_status, endpoint_type, bucket, path, region, access_key_id, secret_ciphertext, created_at, updated_at)
       VALUES ($1, 'EVERY_24_HOURS', false, 'SUCCESS', 'S3_ACCESS_KEY', 'your-s3-bucket', $2, 'us-east-1', $3, $4, '2026-01-01T00:00:00Z', '2026-01-02T03:04:05.678Z')`,
      [id, pathName, sandbox.user('exporter').accessKeyId, ciphertext],
    );
  }

  /** Runs the real command with key B current and the given previous keys. */
  function rotate(previous: Buffer[]): Promise<ProcessResult> {
    return runEntryPoint('src/tools/rotate-secret-key.command.ts', {
      ...envWithout(...KEY_VARIABLES),
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      SECRET_ENCRYPTION_KEY: keyB.toString('base64'),
      SECRET_ENCRYPTION_PREVIOUS_KEYS: previous.map((key) => key.toString('base64')).join(','),
      LOG_LEVEL: 'info',
    });
  }

  /** What must never appear in the command's output: the AWS secret, every key, every stored ciphertext. */
  async function expectNoSecretIn(output: string, extraKeys: Buffer[] = []): Promise<void> {
    const ciphertexts = [...(await snapshot()).values()].map((row) => row.ciphertext).filter((value): value is string => value !== null);
    const keys = [keyA, keyB, ...extraKeys].flatMap((key) => [key.toString('base64'), key.toString('base64url'), key.toString('hex')]);
    for (const value of [exporterSecret, ...keys, ...ciphertexts]) expect(output).not.toContain(value);
  }

  beforeAll(async () => {
    sandbox = await openSandbox();
    db = await createTestDatabase();
    exporterSecret = sandbox.user('exporter').secretAccessKey;
  });
  afterAll(async () => {
    for (const service of [...running]) await stopService(service);
    const queue = createExportQueue({ redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix });
    await queue.obliterate({ force: true });
    await queue.close();
    await db?.drop();
    await sandbox?.close();
  });

  it('with key A: a configuration created over GraphQL tests SUCCESS and exports its events; a legacy v1 secret sits beside it', async () => {
    const service = await startService(keyA);
    const exporter = sandbox.user('exporter');
    const created = await service.t.graphql(
      {
        query: 'mutation($data: S3AccessKeyExportConfigurationInput!) { createS3AccessKeyExportConfiguration(data: $data) { id connectionStatus } }',
        variables: {
          data: { interval: 'EVERY_24_HOURS', bucket: 'your-s3-bucket', path: 'rotation', region: 'us-east-1', accessKeyId: exporter.accessKeyId, secretAccessKey: exporterSecret },
        },
      },
      service.auditKey,
    );
    expect(created.body.errors).toBeUndefined();
    expect(created.body.data!.createS3AccessKeyExportConfiguration.connectionStatus).toBe('SUCCESS');
    configurationId = created.body.data!.createS3AccessKeyExportConfiguration.id;

    const ids = await ingest(service.t, service.ingestKey, 5, 0);
    await exportEverything(service.t, service.auditKey, configurationId);
    expect(await exportedIds('rotation/')).toEqual(expect.arrayContaining(ids));

    // Sealed as before the keyring, with key A.
    legacyId = randomUUID();
    await insertConfiguration(legacyId, sealV1(keyA, exporterSecret, legacyId), 'legacy');
    await stopService(service);

    const stored = await snapshot();
    expect(stored.get(configurationId)!.ciphertext).toMatch(new RegExp(`^v2\\.${idA}\\.`));
    expect(stored.get(legacyId)!.ciphertext).toMatch(/^v1\./);
    // The export wrote a digest: the key that signs digests was created, sealed with key A too.
    expect(await signingKeyCiphertexts()).toEqual([expect.stringMatching(new RegExp(`^v2\\.${idA}\\.`))]);
  });

  it('re-encrypts every stored secret with key B, changing nothing else on the rows and printing no secret', async () => {
    const before = await snapshot();
    const result = await rotate([keyA]);
    const output = result.stdout + result.stderr;
    expect({ code: result.code, output }).toEqual({ code: 0, output: expect.stringContaining(`Current key ${idB}: re-encrypted 2, already current 0, failed 0`) });
    // The digest signing key's envelope too: otherwise dropping key A would leave nothing able to sign.
    expect(result.stdout).toContain('Digest signing keys: re-encrypted 1, already current 0, failed 0');
    expect(await signingKeyCiphertexts()).toEqual([expect.stringMatching(new RegExp(`^v2\\.${idB}\\.`))]);
    for (const ciphertext of await signingKeyCiphertexts()) expect(output).not.toContain(ciphertext);

    const after = await snapshot();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [id, row] of after) {
      expect(row.ciphertext).toMatch(new RegExp(`^v2\\.${idB}\\.`));
      expect(row.ciphertext).not.toBe(before.get(id)!.ciphertext);
      // updated_at and every other column exactly as they were.
      expect(row.rest).toEqual(before.get(id)!.rest);
      expect(new SecretBox(keyB).decrypt(row.ciphertext!, id)).toBe(exporterSecret);
    }
    await expectNoSecretIn(output);
  });

  it('an app with only key B tests both connections SUCCESS and exports newly ingested events', async () => {
    const service = await startService(keyB);
    for (const id of [configurationId, legacyId]) {
      const tested = await service.t.graphql(
        { query: 'mutation($id: String!) { testExportConfigurationConnection(id: $id) { id connectionStatus } }', variables: { id } },
        service.auditKey,
      );
      expect(tested.body).toEqual({ data: { testExportConfigurationConnection: { id, connectionStatus: 'SUCCESS' } } });
    }

    const ids = await ingest(service.t, service.ingestKey, 7, 100);
    await exportEverything(service.t, service.auditKey, configurationId);
    expect(await exportedIds('rotation/')).toEqual(expect.arrayContaining(ids));
    // Its digests are signed, with key B only, by the same (re-encrypted) signing key as before.
    const signedWith = await db.query<{ key: string | null }>(
      `SELECT DISTINCT digest_signing_key_id::text AS key FROM export_jobs WHERE configuration_id = $1 AND status = 'SUCCEEDED'`,
      [configurationId],
    );
    expect(signedWith).toEqual([{ key: expect.any(String) }]);
    for (const line of service.t.logs) expect(line).not.toContain(exporterSecret);
    await stopService(service);
  });

  it('a second run finds everything already current and writes nothing', async () => {
    const before = await snapshot();
    const result = await rotate([keyA]);
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 0, stdout: expect.stringContaining(`Current key ${idB}: re-encrypted 0, already current 2, failed 0`) });
    expect(result.stdout).toContain('Digest signing keys: re-encrypted 0, already current 1, failed 0');
    expect(await snapshot()).toEqual(before);
    await expectNoSecretIn(result.stdout + result.stderr);
  });

  it('a secret no key decrypts: exit non-zero naming its configuration, its row left as it was, the others still rotated', async () => {
    const lostKey = randomBytes(32);
    const unknownKey = randomBytes(32);
    const lostV1 = randomUUID();
    const unknownV2 = randomUUID();
    const rotatable = randomUUID();
    await insertConfiguration(lostV1, sealV1(lostKey, exporterSecret, lostV1), 'lost-v1');
    await insertConfiguration(unknownV2, new SecretBox(unknownKey).encrypt(exporterSecret, unknownV2), 'unknown-v2');
    await insertConfiguration(rotatable, sealV1(keyA, exporterSecret, rotatable), 'rotatable');
    const before = await snapshot();

    const result = await rotate([keyA]);
    const output = result.stdout + result.stderr;
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`Current key ${idB}: re-encrypted 1, already current 2, failed 2`);
    expect(result.stdout).toMatch(new RegExp(`failed: export configuration ${lostV1}: no configured key decrypts it`));
    expect(result.stdout).toMatch(new RegExp(`failed: export configuration ${unknownV2} \\(key ${encryptionKeyId(unknownKey)}\\): sealed with a key that is neither`));

    const after = await snapshot();
    for (const id of [lostV1, unknownV2, configurationId, legacyId]) expect(after.get(id)).toEqual(before.get(id));
    expect(after.get(rotatable)!.ciphertext).toMatch(new RegExp(`^v2\\.${idB}\\.`));
    expect(after.get(rotatable)!.rest).toEqual(before.get(rotatable)!.rest);
    await expectNoSecretIn(output, [lostKey, unknownKey]);
  });

  it('replaces a ciphertext only while the row still holds the one that was read', async () => {
    const repository = new ExportConfigurationRepository(db.prisma);
    const [{ ciphertext }] = await db.query<{ ciphertext: string }>('SELECT secret_ciphertext AS ciphertext FROM export_configurations WHERE id = $1', [configurationId]);
    const before = await snapshot();
    // An admin's change landed between the rotation's read and its write: the write must not win.
    expect(await repository.replaceSecretCiphertext(configurationId, `${ciphertext}-stale`, 'v2.replacement')).toBe(false);
    expect(await snapshot()).toEqual(before);

    const resealed = new SecretBox(keyB).encrypt(exporterSecret, configurationId);
    expect(await repository.replaceSecretCiphertext(configurationId, ciphertext, resealed)).toBe(true);
    const after = (await snapshot()).get(configurationId)!;
    expect(after.ciphertext).toBe(resealed);
    expect(after.rest).toEqual(before.get(configurationId)!.rest);
  });
});
