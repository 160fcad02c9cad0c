import { randomBytes } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createExportQueue } from '../../src/export-schedule/export-queue';
import { createApp, type App } from '../../src/app/app';
import type { Sandbox } from '../../sandbox/sandbox.server';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The real service for HTTP tests: its own migrated database, listening on a free port, AWS calls
 * going to a sandbox, every log line captured (at trace level) in `logs`.
 */
export interface TestApp {
  app: App;
  url: string;
  db: TestDatabase;
  /** Raw log lines the app wrote. */
  logs: string[];
  /** Every response body the tests received, raw, for leak checks. */
  responses: string[];
  /** POST /api/audit/graphql; `authorization` is sent as the header when given. */
  graphql(body: { query: string; variables?: Record<string, unknown> }, authorization?: string): Promise<{ status: number; body: GraphQLBody }>;
  /** Creates a user + API key through the service (as `npm run apikey:create` does). */
  createKey(user: string, permissions: string[]): Promise<string>;
  close(): Promise<void>;
}

export interface GraphQLBody {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; extensions?: Record<string, any> }>;
}

export async function startTestApp(
  options: {
    sandbox?: Sandbox;
    env?: Record<string, string>;
    /** A database to reuse (e.g. a second app on the first one's rows); `close()` then leaves it to its owner. */
    db?: TestDatabase;
  } = {},
): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase());
  const logs: string[] = [];
  const responses: string[] = [];
  const service = options.sandbox?.user('audit-export-service');
  // A BullMQ namespace of the app's own unless the caller brings one (and then obliterates it
  // itself): apps of files running in parallel never share a queue, and close() can remove every
  // key the app made without touching anyone else's (the suite's teardown fails on leftovers).
  const ownPrefix = options.env?.BULLMQ_PREFIX ? undefined : `${process.env.BULLMQ_PREFIX ?? 'audit-export-test'}-app-${randomBytes(4).toString('hex')}`;
  const app = await createApp({
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'trace',
      AWS_REGION: 'us-east-1',
      AWS_S3_FORCE_PATH_STYLE: 'true',
      CONNECTION_TEST_TIMEOUT_MS: '5000',
      ...(options.sandbox && service
        ? {
            AWS_ENDPOINT_URL: options.sandbox.endpoint,
            AWS_ACCESS_KEY_ID: service.accessKeyId,
            AWS_SECRET_ACCESS_KEY: service.secretAccessKey,
          }
        : {}),
      ...(ownPrefix ? { BULLMQ_PREFIX: ownPrefix } : {}),
      ...options.env,
    },
    logDestination: { write: (line: string) => void logs.push(line) },
  });
  const { url } = await app.start();
  return {
    app,
    url,
    db,
    logs,
    responses,
    async graphql(body, authorization) {
      const response = await fetch(`${url}/api/audit/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      responses.push(text);
      return { status: response.status, body: JSON.parse(text) as GraphQLBody };
    },
    async createKey(user, permissions) {
      return (await app.services.apiKeys.create({ userName: user, permissions })).key;
    },
    async close() {
      await app.stop();
      if (ownPrefix) {
        const queue = createExportQueue({ redisUrl: app.env.REDIS_URL, prefix: ownPrefix });
        try {
          await queue.obliterate({ force: true });
        } finally {
          await queue.close();
        }
      }
      if (!options.db) await db.drop();
    },
  };
}

/** Reads an object back as the sandbox's read-only `auditor` user. */
export async function readObject(sandbox: Sandbox, bucket: string, key: string): Promise<string> {
  const auditor = sandbox.user('auditor');
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: sandbox.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: auditor.accessKeyId, secretAccessKey: auditor.secretAccessKey },
    maxAttempts: 1,
  });
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await object.Body!.transformToString();
  } finally {
    s3.destroy();
  }
}
