import { createHash, createPublicKey } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Pool } from 'pg';
import { DigestSigningKeyRepository } from '../../src/digest-signing-key/digest-signing-key.repository';
import { DigestSigningKeyService } from '../../src/digest-signing-key/digest-signing-key.service';
import { parseDigest, publicKeyFingerprint, verifyDigestSignature, type SignedDigest } from '../../src/export-digest/export-digest.format';
import { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { ExportRunService, type ExportAwsClients, type ExportRunOptions } from '../../src/export-job/export-run.service';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { BUCKET, createAccessKeyConfiguration, digestWriterFor, ingestEvents, startExportHarness, type ExportHarness, exportRunServiceFor } from './export-fixtures';

jest.setTimeout(120_000);

/**
 * Signed digests written by export runs (issue #10, item 4; docs/integrity-digests.md), against
 * real PostgreSQL and the sandbox over HTTP: what a digest holds and where, the chain from one job
 * to the next, byte-identical rewrites by retries (across a key rotation), and no digest at all
 * when integrity validation is off.
 */
describe('export digests', () => {
  let db: TestDatabase;
  let harness: ExportHarness;
  let pool: Pool;
  let repository: ExportJobRepository;
  let signingKeys: DigestSigningKeyService;
  let reader: S3Client;

  function runService(options: Partial<ExportRunOptions> = {}, aws: ExportAwsClients = harness.awsClients): ExportRunService {
    return exportRunServiceFor(db.prisma, repository, harness, { retryBaseDelayMs: 20, retryMaxDelayMs: 200, maxEventsPerTask: 40, ...options }, { aws, signingKeys });
  }

  const read = async (key: string) => Buffer.from(await (await reader.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const list = async (prefix: string) => ((await reader.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((object) => object.Key!).sort();

  async function digestOf(jobId: string): Promise<{ key: string; bytes: Buffer; digest: SignedDigest }> {
    const [job] = await db.query<{ digest_key: string }>('SELECT digest_key FROM export_jobs WHERE id = $1', [jobId]);
    const bytes = await read(job.digest_key);
    const parsed = parseDigest(bytes);
    if (!('digest' in parsed)) throw new Error(`not a digest: ${parsed.problem}`);
    return { key: job.digest_key, bytes, digest: parsed.digest };
  }

  async function publicKey(fingerprint: string) {
    const key = (await signingKeys.publicKeys()).find((candidate) => candidate.fingerprint === fingerprint);
    if (!key) throw new Error(`no key ${fingerprint}`);
    return createPublicKey(key.publicKeyPem);
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    harness = await startExportHarness();
    pool = new Pool({ connectionString: db.url, max: 6 });
    repository = new ExportJobRepository(db.prisma, pool);
    signingKeys = new DigestSigningKeyService(new DigestSigningKeyRepository(db.prisma), harness.secretBox);
    const auditor = harness.sandbox.user('auditor');
    reader = new S3Client({ region: harness.sandbox.region, endpoint: harness.sandbox.endpoint, forcePathStyle: true, credentials: auditor });
  });
  afterAll(async () => {
    reader.destroy();
    await pool.end();
    await harness.stop();
    await db.drop();
  });
  beforeEach(async () => {
    harness.sandbox.setFaults(null);
    await db.query('TRUNCATE audit_events, export_jobs, export_job_tasks, export_digest_chains');
    await db.query('DELETE FROM export_configurations');
  });

  it("lists every object of the job with the SHA-256 and size of the bytes in the bucket, is signed by a key created on first use, and chains to the previous job's digest", async () => {
    expect(await db.query('SELECT id FROM digest_signing_keys')).toEqual([]);
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    const path = `exports/${configurationId.slice(0, 8)}`;
    await ingestEvents(db.prisma, 100);
    const first = await runService().run(configurationId, 'MANUAL');
    expect(first).toMatchObject({ status: 'succeeded', eventCount: 100 });
    const [firstJobId] = first.status === 'succeeded' ? first.jobIds : [];

    const { key, bytes, digest } = await digestOf(firstJobId);
    const [job] = await db.query<{ from_sequence: string; to_sequence: string; start_timestamp: Date }>(
      'SELECT from_sequence::text, to_sequence::text, start_timestamp FROM export_jobs WHERE id = $1',
      [firstJobId],
    );
    const day = job.start_timestamp.toISOString().slice(0, 10).replace(/-/g, '/');
    expect(key).toBe(`${path}/_digest/${day}/${firstJobId}.json`);
    const tasks = await db.query<{ object_key: string; event_count: number; from_sequence: string; to_sequence: string }>(
      'SELECT object_key, event_count, from_sequence::text, to_sequence::text FROM export_job_tasks WHERE job_id = $1 ORDER BY "offset"',
      [firstJobId],
    );
    expect(tasks).toHaveLength(3);
    const objects = [];
    for (const task of tasks) {
      const object = await read(task.object_key);
      objects.push({
        key: task.object_key,
        sha256: sha256(object),
        bytes: object.length,
        eventCount: task.event_count,
        sequenceRange: { after: task.from_sequence, through: task.to_sequence },
      });
    }
    const [times] = await db.query<{ first: Date; last: Date }>(
      'SELECT min(received_timestamp) AS first, max(received_timestamp) AS last FROM audit_events WHERE sequence > $1 AND sequence <= $2',
      [job.from_sequence, job.to_sequence],
    );
    const [storedKey] = await db.query<{ fingerprint: string }>('SELECT fingerprint FROM digest_signing_keys');
    expect(digest).toEqual({
      format: 'audit-export-digest/1',
      configurationId,
      jobId: firstJobId,
      bucket: BUCKET,
      key,
      sequenceRange: { after: job.from_sequence, through: job.to_sequence },
      eventCount: 100,
      jobStartTime: job.start_timestamp.toISOString(),
      firstEventReceivedTime: times.first.toISOString(),
      lastEventReceivedTime: times.last.toISOString(),
      objects,
      previousDigest: null,
      signatureAlgorithm: 'Ed25519',
      signingKeyFingerprint: storedKey.fingerprint,
      signature: expect.any(String),
    });
    const verifier = await publicKey(digest.signingKeyFingerprint);
    expect(publicKeyFingerprint(verifier)).toBe(storedKey.fingerprint);
    expect(verifyDigestSignature(digest, verifier)).toBe(true);
    // One byte of what it vouches for changed: the signature no longer holds.
    expect(verifyDigestSignature({ ...digest, objects: [{ ...digest.objects[0], bytes: digest.objects[0].bytes + 1 }, ...digest.objects.slice(1)] }, verifier)).toBe(false);
    // The chain's head in PostgreSQL is this digest, with the hash of its exact bytes.
    expect(await db.query('SELECT job_id, bucket, key, sha256 FROM export_digest_chains WHERE configuration_id = $1', [configurationId])).toEqual([
      { job_id: firstJobId, bucket: BUCKET, key, sha256: sha256(bytes) },
    ]);

    await ingestEvents(db.prisma, 10, 100);
    const second = await runService().run(configurationId, 'SCHEDULED');
    const [secondJobId] = second.status === 'succeeded' ? second.jobIds : [];
    const next = await digestOf(secondJobId);
    expect(next.digest.previousDigest).toEqual({ bucket: BUCKET, key, sha256: sha256(bytes) });
    expect(next.digest.sequenceRange.after).toBe(job.to_sequence);
    expect(verifyDigestSignature(next.digest, verifier)).toBe(true);
    expect((await list(`${path}/_digest/`)).length).toBe(2);
    expect(await db.query('SELECT count(*)::int AS keys FROM digest_signing_keys')).toEqual([{ keys: 1 }]);
  });

  it('a digest write that fails leaves the job FAILED; the retry after a key rotation writes the very bytes of the first try, signed with the key it was first signed with', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    await ingestEvents(db.prisma, 30);
    // The bodies of every digest PutObject the service sends, failed tries included.
    const sent: Array<{ key: string; body: Buffer }> = [];
    const aws: ExportAwsClients = {
      credentialsFor: (source) => harness.awsClients.credentialsFor(source),
      createS3Client: (region, credentials, options) => {
        const client = harness.awsClients.createS3Client(region, credentials, options);
        client.middlewareStack.add(
          (next) => async (args) => {
            const input = args.input as { Key?: string; Body?: unknown };
            if (input.Key?.includes('/_digest/') && Buffer.isBuffer(input.Body)) sent.push({ key: input.Key, body: Buffer.from(input.Body) });
            return next(args);
          },
          { step: 'initialize', name: 'recordDigestBodies' },
        );
        return client;
      },
    };
    // One task: request 1 (the object) passes, request 2 (the digest) gets a 503, with no retry left.
    harness.sandbox.setFaults({ s3FailureRatio: 1 / 2, status: 503 });
    const failed = await runService({ maxTaskAttempts: 1, requestMaxAttempts: 1 }, aws).run(configurationId, 'MANUAL');
    harness.sandbox.setFaults(null);
    expect(failed).toMatchObject({ status: 'failed', reason: expect.stringMatching(/reduce your request rate|SlowDown/i) });
    const [job] = await db.query<{ id: string; status: string; failure_reason: string; cursor: string; digest_signing_key_id: string; digest_key: string | null }>(
      `SELECT j.id, j.status::text, j.failure_reason, c.cursor::text, j.digest_signing_key_id, j.digest_key
         FROM export_jobs j JOIN export_configurations c ON c.id = j.configuration_id WHERE j.configuration_id = $1`,
      [configurationId],
    );
    expect(job).toMatchObject({ status: 'FAILED', failure_reason: expect.stringMatching(/^The digest failed: /), cursor: '0', digest_key: null });
    expect(sent).toHaveLength(1);
    expect(await list(sent[0].key)).toEqual([]);
    expect(await db.query('SELECT * FROM export_digest_chains')).toEqual([]);

    // A rotation between the failed try and the retry: the job keeps the key it was first signed with.
    const firstKey = await db.query<{ fingerprint: string }>('SELECT fingerprint FROM digest_signing_keys WHERE id = $1', [job.digest_signing_key_id]);
    const { current: rotated } = await signingKeys.rotate();
    await expect(runService({}, aws).run(configurationId, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded', jobIds: [job.id] });
    expect(sent).toHaveLength(2);
    const stored = await read(sent[0].key);
    expect(stored.equals(sent[0].body)).toBe(true);
    expect(sent[1].body.equals(sent[0].body)).toBe(true);
    const retried = await digestOf(job.id);
    expect(retried.digest.signingKeyFingerprint).toBe(firstKey[0].fingerprint);
    expect(verifyDigestSignature(retried.digest, await publicKey(firstKey[0].fingerprint))).toBe(true);
    expect(await repository.findUnfinishedJob(configurationId)).toBeNull();

    // The next job is signed with the new key and continues the chain.
    await ingestEvents(db.prisma, 5, 30);
    const next = await runService().run(configurationId, 'MANUAL');
    const following = await digestOf(next.status === 'succeeded' ? next.jobIds[0] : '');
    expect(following.digest.signingKeyFingerprint).toBe(rotated.fingerprint);
    expect(following.digest.previousDigest).toEqual({ bucket: BUCKET, key: retried.key, sha256: sha256(stored) });
    expect(verifyDigestSignature(following.digest, await publicKey(rotated.fingerprint))).toBe(true);
    expect(verifyDigestSignature(following.digest, await publicKey(firstKey[0].fingerprint))).toBe(false);
  });

  it('rebuilding the digest of a job gives the same bytes, and a digest overwritten in the bucket is put back by a rewrite', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness);
    await ingestEvents(db.prisma, 50);
    const outcome = await runService().run(configurationId, 'MANUAL');
    const jobId = outcome.status === 'succeeded' ? outcome.jobIds[0] : '';
    const { key, bytes } = await digestOf(jobId);
    // The job as a retry would read it: its planning-time facts are stored, not recomputed.
    await db.query(`UPDATE export_jobs SET status = 'IN_PROGRESS' WHERE id = $1`, [jobId]);
    const job = await repository.findUnfinishedJob(configurationId);
    const writer = digestWriterFor(db.prisma, repository, harness.secretBox, signingKeys);
    await signingKeys.rotate();
    const rebuilt = await writer.build(job!);
    expect(rebuilt.key).toBe(key);
    expect(rebuilt.body.equals(bytes)).toBe(true);

    const exporter = harness.sandbox.user('exporter');
    const writerClient = new S3Client({ region: harness.sandbox.region, endpoint: harness.sandbox.endpoint, forcePathStyle: true, credentials: exporter });
    try {
      await writerClient.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'tampered' }));
      await writer.write(writerClient, job!, {});
    } finally {
      writerClient.destroy();
    }
    expect((await read(key)).equals(bytes)).toBe(true);
    await db.query(`UPDATE export_jobs SET status = 'SUCCEEDED' WHERE id = $1`, [jobId]);
  });

  it('with integrity validation off: no digest object, no chain, and the job is planned without one', async () => {
    const configurationId = await createAccessKeyConfiguration(db.prisma, harness, { integrityValidation: false });
    const path = `exports/${configurationId.slice(0, 8)}`;
    await ingestEvents(db.prisma, 60);
    await expect(runService().run(configurationId, 'MANUAL')).resolves.toMatchObject({ status: 'succeeded', eventCount: 60 });
    const objects = await list(`${path}/`);
    expect(objects).toHaveLength(2);
    expect(objects.every((key) => key.endsWith('.ndjson.gz'))).toBe(true);
    expect(await db.query('SELECT integrity_validation, digest_key, digest_signing_key_id FROM export_jobs')).toEqual([
      { integrity_validation: false, digest_key: null, digest_signing_key_id: null },
    ]);
    expect(await db.query('SELECT * FROM export_digest_chains')).toEqual([]);

    // Turned on: the next job writes the configuration's first digest.
    await db.query('UPDATE export_configurations SET integrity_validation = true WHERE id = $1', [configurationId]);
    await ingestEvents(db.prisma, 5, 60);
    const next = await runService().run(configurationId, 'MANUAL');
    const { digest } = await digestOf(next.status === 'succeeded' ? next.jobIds[0] : '');
    expect(digest).toMatchObject({ previousDigest: null, eventCount: 5 });
  });

  it('two processes signing their first digest at once get one key', async () => {
    await db.query('TRUNCATE digest_signing_keys CASCADE');
    const services = [0, 1, 2].map(() => new DigestSigningKeyService(new DigestSigningKeyRepository(db.prisma), harness.secretBox));
    const ids = await Promise.all(services.map((service) => service.currentKeyId()));
    expect(new Set(ids).size).toBe(1);
    expect(await db.query('SELECT id FROM digest_signing_keys')).toEqual([{ id: ids[0] }]);
    // The private key is stored sealed, never in the clear.
    const [row] = await db.query<{ private_key_ciphertext: string }>('SELECT private_key_ciphertext FROM digest_signing_keys');
    expect(row.private_key_ciphertext).toMatch(/^v2\./);
  });
});
