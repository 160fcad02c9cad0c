import { randomBytes, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { AuditEventRepository } from '../../src/audit-event/audit-event.repository';
import { AuditEventService } from '../../src/audit-event/audit-event.service';
import { AwsClientFactory } from '../../src/aws/aws-client.factory';
import { createLogger } from '../../src/common/logger';
import { SecretBox } from '../../src/crypto/secret-box';
import type { PrismaClient } from '../../src/database/prisma';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.server';
import { DigestSigningKeyRepository } from '../../src/digest-signing-key/digest-signing-key.repository';
import { DigestSigningKeyService } from '../../src/digest-signing-key/digest-signing-key.service';
import { ExportDigestChainRepository } from '../../src/export-job/export-digest-chain.repository';
import { ExportDigestWriter } from '../../src/export-job/export-digest.writer';
import type { ExportJobRepository } from '../../src/export-job/export-job.repository';
import { DEFAULT_RUN_OPTIONS, ExportRunService, type ExportAwsClients, type ExportRunOptions } from '../../src/export-job/export-run.service';
import { ExportTaskUploader, type UploaderOptions } from '../../src/export-job/export-task.uploader';

/** Test helpers shared by the export tests: a sandbox, configurations, events, and reading exports back. */

export const BUCKET = 'your-s3-bucket';
export const silentLogger = createLogger('silent');

export interface ExportHarness {
  sandbox: Sandbox;
  secretBox: SecretBox;
  awsClients: AwsClientFactory;
  /** Environment for a child worker process pointed at this sandbox. */
  awsEnv: Record<string, string>;
  stop(): Promise<void>;
}

export async function startExportHarness(): Promise<ExportHarness> {
  const sandbox = await startSandbox();
  const service = sandbox.user('audit-export-service');
  const secretBox = new SecretBox(Buffer.from(process.env.SECRET_ENCRYPTION_KEY ?? randomBytes(32).toString('base64'), 'base64'));
  const awsClients = new AwsClientFactory(
    {
      stsRegion: sandbox.region,
      forcePathStyle: true,
      s3Endpoint: sandbox.endpoint,
      stsEndpoint: sandbox.endpoint,
      serviceCredentials: { accessKeyId: service.accessKeyId, secretAccessKey: service.secretAccessKey },
      requestTimeoutMs: 10_000,
    },
    secretBox,
  );
  return {
    sandbox,
    secretBox,
    awsClients,
    awsEnv: {
      AWS_REGION: sandbox.region,
      AWS_ENDPOINT_URL: sandbox.endpoint,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: service.accessKeyId,
      AWS_SECRET_ACCESS_KEY: service.secretAccessKey,
    },
    async stop() {
      awsClients.destroy();
      await sandbox.stop();
    },
  };
}

/**
 * The digest writer of a run service built by hand, as workers/export-worker.factory.ts builds it;
 * `signingKeys` defaults to a service of its own on `secretBox`.
 */
export function digestWriterFor(
  prisma: PrismaClient,
  repository: ExportJobRepository,
  secretBox: SecretBox,
  signingKeys = new DigestSigningKeyService(new DigestSigningKeyRepository(prisma), secretBox),
): ExportDigestWriter {
  return new ExportDigestWriter(repository, new ExportDigestChainRepository(prisma), signingKeys, silentLogger);
}

/**
 * A run service wired as workers/export-worker.factory.ts wires it (uploader, digest writer, AWS
 * clients), on the harness's sandbox: `options` over DEFAULT_RUN_OPTIONS, and the uploader's
 * options, other AWS clients or a signing-key service where a test needs them.
 */
export function exportRunServiceFor(
  prisma: PrismaClient,
  repository: ExportJobRepository,
  harness: Pick<ExportHarness, 'secretBox' | 'awsClients'>,
  options: Partial<ExportRunOptions> & Pick<ExportRunOptions, 'maxEventsPerTask'>,
  wiring: { aws?: ExportAwsClients; uploader?: UploaderOptions; signingKeys?: DigestSigningKeyService } = {},
): ExportRunService {
  return new ExportRunService(
    repository,
    new ExportTaskUploader(repository, wiring.uploader),
    digestWriterFor(prisma, repository, harness.secretBox, wiring.signingKeys),
    wiring.aws ?? harness.awsClients,
    { ...DEFAULT_RUN_OPTIONS, ...options },
    silentLogger,
  );
}

/** An access-key configuration signing as the sandbox's `exporter` (s3:PutObject on your-s3-bucket/*). */
export async function createAccessKeyConfiguration(
  prisma: PrismaClient,
  harness: ExportHarness,
  overrides: {
    bucket?: string;
    path?: string | null;
    enabled?: boolean;
    interval?: 'EVERY_2_HOURS' | 'EVERY_4_HOURS' | 'EVERY_6_HOURS' | 'EVERY_12_HOURS' | 'EVERY_24_HOURS';
    /** Default: the column's default (true, as for every configuration created since digests exist). */
    integrityValidation?: boolean;
  } = {},
): Promise<string> {
  const id = randomUUID();
  const exporter = harness.sandbox.user('exporter');
  await prisma.exportConfiguration.create({
    data: {
      id,
      interval: overrides.interval ?? 'EVERY_2_HOURS',
      enabled: overrides.enabled ?? true,
      connectionStatus: 'SUCCESS',
      endpointType: 'S3_ACCESS_KEY',
      bucket: overrides.bucket ?? BUCKET,
      path: overrides.path === undefined ? `exports/${id.slice(0, 8)}` : overrides.path,
      region: harness.sandbox.region,
      accessKeyId: exporter.accessKeyId,
      secretCiphertext: harness.secretBox.encrypt(exporter.secretAccessKey, id),
      integrityValidation: overrides.integrityValidation,
    },
  });
  return id;
}

/** An assumed-role configuration on `immuta-export`, whose trust policy names this configuration's id. */
export async function createAssumedRoleConfiguration(prisma: PrismaClient, harness: ExportHarness): Promise<string> {
  const id = randomUUID();
  const { sandbox } = harness;
  sandbox.setTrustPolicy('immuta-export', {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: sandbox.user('audit-export-service').arn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': id } },
      },
    ],
  });
  await prisma.exportConfiguration.create({
    data: {
      id,
      interval: 'EVERY_2_HOURS',
      connectionStatus: 'SUCCESS',
      endpointType: 'S3_ASSUMED_ROLE',
      bucket: BUCKET,
      path: `roles/${id.slice(0, 8)}`,
      region: sandbox.region,
      roleArn: sandbox.role('immuta-export').arn,
    },
  });
  return id;
}

/** A realistic UAM event (about 700 bytes of JSON). */
export function uamEvent(index: number): Record<string, unknown> {
  return {
    id: randomUUID(),
    action: 'QUERY',
    actionStatus: 'SUCCESS',
    actor: { type: 'USER', id: `user${index % 97}@example.com`, name: `User ${index % 97}`, identityProvider: 'bim', profileId: index % 97 },
    actorIp: `10.0.${index % 256}.${(index * 7) % 256}`,
    eventTimestamp: new Date(Date.UTC(2026, 0, 1) + index * 1000).toISOString(),
    tenantId: 'tenant-4a2b',
    targetType: 'DATASOURCE',
    targets: [{ type: 'DATASOURCE', id: String(index % 1000), name: `sales_${index % 1000}`, technology: 'Snowflake' }],
    auditPayload: {
      type: 'DatabricksQueryAuditPayload',
      version: 1,
      queryId: randomUUID(),
      query: `SELECT * FROM sales_${index % 1000} WHERE region = 'EMEA' LIMIT 100`,
      rowsProduced: index % 500,
    },
    requestId: randomUUID(),
    sessionId: randomUUID(),
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36',
  };
}

/**
 * Ingests `count` new events through the ingest service (batches of 1000) and returns their ids in
 * order. `incompressibleBytes` adds that much random base64 to each event's payload, for objects
 * that stay large after gzip.
 */
export async function ingestEvents(prisma: PrismaClient, count: number, startIndex = 0, incompressibleBytes = 0): Promise<string[]> {
  const service = new AuditEventService(prisma, new AuditEventRepository());
  const ids: string[] = [];
  const withPadding = (event: Record<string, unknown>) =>
    incompressibleBytes === 0 ? event : { ...event, auditPayload: { ...(event.auditPayload as object), padding: randomBytes((incompressibleBytes * 3) / 4).toString('base64') } };
  for (let start = 0; start < count; start += 1000) {
    const events = Array.from({ length: Math.min(1000, count - start) }, (_, offset) => withPadding(uamEvent(startIndex + start + offset)));
    await service.ingest(events.map((event) => JSON.stringify(event)).join('\n'), 'ndjson');
    ids.push(...events.map((event) => event.id as string));
  }
  return ids;
}

export interface ExportedObject {
  key: string;
  events: Array<Record<string, unknown>>;
}

/** Reads every exported object under `prefix` back as the `auditor` user, in key order. */
export async function readExports(sandbox: Sandbox, prefix: string): Promise<ExportedObject[]> {
  const auditor = sandbox.user('auditor');
  const s3 = new S3Client({
    region: sandbox.region,
    endpoint: sandbox.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: auditor.accessKeyId, secretAccessKey: auditor.secretAccessKey },
  });
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((object) => object.Key!).filter((key) => key.endsWith('.ndjson.gz')));
      token = page.NextContinuationToken;
    } while (token);
    keys.sort();
    const objects: ExportedObject[] = [];
    for (const key of keys) {
      const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const text = gunzipSync(Buffer.from(await object.Body!.transformToByteArray())).toString('utf8');
      const lines = text.split('\n');
      expect(lines.pop()).toBe('');
      objects.push({ key, events: lines.map((line) => JSON.parse(line) as Record<string, unknown>) });
    }
    return objects;
  } finally {
    s3.destroy();
  }
}

/** Objects in job order (jobs by creation, then key), flattened to event ids. */
export async function exportedIdsInJobOrder(prisma: PrismaClient, sandbox: Sandbox, prefix: string): Promise<string[]> {
  const objects = new Map((await readExports(sandbox, prefix)).map((object) => [object.key, object]));
  const tasks = await prisma.exportJobTask.findMany({
    where: { status: 'SUCCEEDED', job: { status: 'SUCCEEDED' } },
    orderBy: [{ job: { createdAt: 'asc' } }, { offset: 'asc' }],
    select: { objectKey: true },
  });
  const ids: string[] = [];
  for (const task of tasks) {
    const object = objects.get(task.objectKey);
    if (object) ids.push(...object.events.map((event) => event.id as string));
  }
  return ids;
}
