import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/sandbox.server';

/** Credentials as the SDK takes them. */
export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * A sandbox on a random port with its own data directory (a fresh one unless `options.dataDir`
 * names one, e.g. to restart on a previous sandbox's data), removed by `close()`.
 */
export async function openSandbox(options: SandboxOptions = {}): Promise<Sandbox & { dataDir: string; close(): Promise<void> }> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'sandbox-test-')));
  const sandbox = await startSandbox({ port: 0, ...options, dataDir });
  return Object.assign(sandbox, {
    dataDir,
    close: async () => {
      await sandbox.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

/**
 * Real SDK clients pointed at the sandbox. Retries are off unless asked for, so a test sees
 * the first answer and cannot pass because a retry papered over a failure.
 */
export function s3Client(sandbox: Sandbox, credentials: Creds, maxAttempts = 1): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint: sandbox.endpoint, forcePathStyle: true, credentials, maxAttempts });
}

export function stsClient(sandbox: Sandbox, credentials: Creds): STSClient {
  return new STSClient({ region: 'us-east-1', endpoint: sandbox.endpoint, credentials, maxAttempts: 1 });
}

/** The SDK's HTTP handler trusting the sandbox's self-signed certificate (it must run with `httpsPort`). */
function httpsHandler(sandbox: Sandbox): NodeHttpHandler {
  if (!sandbox.httpsEndpoint || !sandbox.caCertificateFile) throw new Error('start the sandbox with httpsPort to use its HTTPS endpoint');
  return new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: readFileSync(sandbox.caCertificateFile) }) });
}

/** Like s3Client, over the sandbox's HTTPS listener (aws:SecureTransport true). */
export function httpsS3Client(sandbox: Sandbox, credentials: Creds): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint: sandbox.httpsEndpoint, forcePathStyle: true, credentials, maxAttempts: 1, requestHandler: httpsHandler(sandbox) });
}

export function httpsStsClient(sandbox: Sandbox, credentials: Creds): STSClient {
  return new STSClient({ region: 'us-east-1', endpoint: sandbox.httpsEndpoint, credentials, maxAttempts: 1, requestHandler: httpsHandler(sandbox) });
}

/** Temporary credentials from an AssumeRole answer, as the SDK takes them. */
export function sessionCreds(c: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string } | undefined): Creds {
  return { accessKeyId: c!.AccessKeyId!, secretAccessKey: c!.SecretAccessKey!, sessionToken: c!.SessionToken! };
}

/** The error an SDK call rejects with; fails the test if it resolves. */
export async function awsError(promise: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the AWS call to fail, but it succeeded');
}

/** Deterministic pseudo-random bytes, so a corrupted byte anywhere shows up in a comparison. */
export function patternBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Trust policy in the seed's shape: `arn:aws:iam::<account>:root` may assume the role under `condition`. */
function rootTrustPolicy(accountId: string, condition: Record<string, Record<string, string>>) {
  return {
    Version: '2012-10-17' as const,
    Statement: [{ Effect: 'Allow' as const, Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole', Condition: condition }],
  };
}

/** Trust policy in the seed's shape, for `arn:aws:iam::<account>:root` and one external id. */
export function trustPolicyFor(accountId: string, externalId: string) {
  return rootTrustPolicy(accountId, { StringEquals: { 'sts:ExternalId': externalId } });
}

/**
 * Trust policy for `arn:aws:iam::<account>:root` admitting any UUID v4 External ID: it passes only
 * when the service sends a configuration id, so a create's own connection test gets past
 * sts:AssumeRole without knowing the new id in advance.
 */
export function trustAnyConfigurationId(accountId: string) {
  return rootTrustPolicy(accountId, { StringLike: { 'sts:ExternalId': '????????-????-4???-????-????????????' } });
}
