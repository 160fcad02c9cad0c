import { mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { handleAdmin, type SandboxControl } from './admin.handler';
import { FaultInjector, type FaultConfig } from './fault.injector';
import { bucketNameSchema, loadIamConfig, parseOrThrow, SandboxConfigError, type SandboxIamConfig } from './iam.config';
import { IamStore } from './iam.store';
import { KmsStore } from './kms.store';
import type { PolicyDocument } from './policy.schema';
import type { ConditionContext } from './policy.condition';
import { authenticate, type AuthenticatedRequest } from './request.authenticator';
import { readBody, sendAwsError, serviceOf } from './sandbox.http';
import { ObjectStore } from './object.store';
import { S3Handler } from './s3.handler';
import { classifyS3Request, type S3Operation } from './s3.operation';
import { SandboxClock } from './sandbox.clock';
import { AwsError, type AwsService, newRequestId } from './sandbox.errors';
import { handleSts, stsOperationName } from './sts.handler';
import { sandboxCertificate } from './tls.certificate';
// Imported (not only read by path) so that `tsc` copies it next to the compiled sandbox.
import shippedIam from './sandbox.iam.json';

export type { SandboxIamConfig } from './iam.config';
export { SandboxConfigError } from './iam.config';
export type { PolicyDocument } from './policy.schema';
export type { FaultConfig } from './fault.injector';

/** Path of the IAM file shipped with the sandbox (README walkthrough identities). */
export const DEFAULT_IAM_FILE = path.join(__dirname, 'sandbox.iam.json');

export interface SandboxOptions {
  /** IAM config object, or path to a JSON file. Default: {@link DEFAULT_IAM_FILE}. */
  iam?: SandboxIamConfig | string;
  /** Port to listen on; 0 picks a free one (tests). Default 0. */
  port?: number;
  /**
   * Also listen for HTTPS on this port (0 = any free port), with a self-signed certificate for
   * 127.0.0.1/localhost kept in the data directory. Requests over it are aws:SecureTransport true.
   * Default: no HTTPS listener.
   */
  httpsPort?: number;
  /** Listen address. Default 127.0.0.1; the control API answers loopback peers only regardless. */
  host?: string;
  /** Where objects are stored. Default: a fresh temporary directory, deleted by `stop()`. */
  dataDir?: string;
  /** Log one line per handled S3/STS request to stdout. Default false. */
  verbose?: boolean;
}

/** One handled S3/STS request, for assertions. Never contains secrets. */
export interface SandboxRequestRecord {
  time: string;
  service: AwsService;
  operation: string;
  principalArn?: string;
  bucket?: string;
  key?: string;
  status: number;
  errorCode?: string;
}

/** A KMS key of the sandbox, as tests name it. */
export interface SandboxKmsKey {
  keyId: string;
  arn: string;
  aliases: string[];
}

/** A running sandbox: endpoint plus in-process control. */
export interface Sandbox {
  /** e.g. `http://127.0.0.1:4566`; use it for both S3 (path-style) and STS. */
  endpoint: string;
  /** e.g. `https://127.0.0.1:4567`, when started with `httpsPort`. */
  httpsEndpoint?: string;
  /** PEM file clients must trust to reach `httpsEndpoint` (AWS_CA_BUNDLE, NODE_EXTRA_CA_CERTS). */
  caCertificateFile?: string;
  accountId: string;
  /** AWS region clients should sign for (any region is accepted). */
  region: string;
  stop(): Promise<void>;
  /** Replaces a role's trust policy (validated; throws SandboxConfigError). */
  setTrustPolicy(roleName: string, policy: PolicyDocument): void;
  setRolePolicies(roleName: string, policies: PolicyDocument[]): void;
  setUserPolicies(userName: string, policies: PolicyDocument[]): void;
  createBucket(name: string): Promise<void>;
  /** Creates a customer managed KMS key (a fresh id unless given; AWS's default key policy unless given). */
  createKey(options?: { id?: string; alias?: string; keyPolicy?: PolicyDocument }): SandboxKmsKey;
  /** Replaces a KMS key's policy (PutKeyPolicy); by key id, key ARN or `alias/<name>`. */
  setKeyPolicy(keyIdOrAlias: string, policy: PolicyDocument): void;
  kmsKey(keyIdOrAlias: string): SandboxKmsKey;
  /** Deterministic S3 failure injection; null turns it off. Resets the request counter. */
  setFaults(faults: FaultConfig | null): void;
  /** Moves the sandbox clock forward (credential expiry), not the signature-skew check. */
  advanceClock(ms: number): void;
  readonly requests: ReadonlyArray<SandboxRequestRecord>;
  user(name: string): { arn: string; accessKeyId: string; secretAccessKey: string };
  role(name: string): { arn: string };
}

const MAX_LOG_RECORDS = 10_000;

const publicKey = (key: SandboxKmsKey): SandboxKmsKey => ({ keyId: key.keyId, arn: key.arn, aliases: [...key.aliases] });

/** Starts a sandbox. Stop it with `stop()`. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const config = loadIamConfig(options.iam ?? (shippedIam as unknown as SandboxIamConfig));
  const clock = new SandboxClock();
  const iam = new IamStore(config, clock);
  const faults = new FaultInjector();
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'audit-export-sandbox-')));
  const storage = await ObjectStore.open(dataDir);
  await storage.clearUploads();
  for (const bucket of config.buckets) await storage.createBucket(bucket);
  const kms = new KmsStore(iam, config.region, config.kmsKeys);
  const s3 = new S3Handler(iam, storage, kms, config.region);
  const log: SandboxRequestRecord[] = [];

  const record = (entry: Omit<SandboxRequestRecord, 'time'>) => {
    const time = new Date(clock.now()).toISOString();
    log.push({ time, ...entry });
    if (options.verbose) {
      const target = entry.bucket ? ` ${entry.bucket}/${entry.key ?? ''}` : '';
      console.log(`[sandbox] ${time} ${entry.service} ${entry.operation}${target} ${entry.status}${entry.errorCode ? ` ${entry.errorCode}` : ''}`);
    }
    if (log.length > MAX_LOG_RECORDS) log.splice(0, log.length - MAX_LOG_RECORDS);
  };

  async function serveS3(req: IncomingMessage, res: ServerResponse, body: Buffer, requestId: string): Promise<void> {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    let operation: S3Operation | undefined;
    let classifyError: unknown;
    try {
      // Classified before authentication, so even a refused request is logged with its operation.
      operation = classifyS3Request(method, url, req.headers);
    } catch (err) {
      classifyError = err;
    }
    let principalArn: string | undefined;
    const base = () => ({ service: 's3' as const, operation: operation?.name ?? `${method} (unsupported)`, principalArn, bucket: operation?.bucket, key: operation?.key });
    try {
      const fault = faults.next();
      if (fault) throw fault;
      const authn = authenticate({ method, url, rawHeaders: req.rawHeaders, headers: req.headers }, body, 's3', iam, clock);
      principalArn = authn.principalArn;
      if (!operation) throw classifyError;
      const answer = await s3.handle(req.headers, body, authn, operation, requestConditions(req, authn));
      const headers: Record<string, string> = { 'x-amz-request-id': requestId, ...answer.headers };
      if (answer.stream) {
        const stream = answer.stream;
        res.writeHead(answer.status, headers);
        // A read error cuts the answer short (the client sees a truncated body, as with S3); a
        // client that goes away must not leave the file open.
        stream.on('error', () => res.destroy());
        stream.pipe(res);
        await new Promise<void>((resolve) => res.on('close', resolve));
        stream.destroy();
      } else {
        const text = answer.body ?? '';
        // HEAD answers carry the object's length but no bytes.
        if (method !== 'HEAD' || headers['content-length'] === undefined) headers['content-length'] = String(Buffer.byteLength(text));
        res.writeHead(answer.status, headers).end(method === 'HEAD' ? undefined : text);
      }
      record({ ...base(), status: answer.status });
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      sendAwsError(res, 's3', method, err, requestId);
      record({ ...base(), status: err.status, errorCode: err.code });
    }
  }

  function serveSts(req: IncomingMessage, res: ServerResponse, body: Buffer, requestId: string): void {
    const method = req.method ?? 'POST';
    const url = req.url ?? '/';
    const params = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
    let principalArn: string | undefined;
    const operation = stsOperationName(params);
    try {
      const authn = authenticate({ method, url, rawHeaders: req.rawHeaders, headers: req.headers }, body, 'sts', iam, clock);
      principalArn = authn.principalArn;
      const xml = handleSts(params, authn, iam, requestId, requestConditions(req, authn));
      res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(xml) }).end(xml);
      record({ service: 'sts', operation, principalArn, status: 200 });
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      sendAwsError(res, 'sts', method, err, requestId);
      record({ service: 'sts', operation, principalArn, status: err.status, errorCode: err.code });
    }
  }

  /** The condition keys every policy evaluation of this request sees: who signed it, and how it arrived. */
  function requestConditions(req: IncomingMessage, authn: AuthenticatedRequest): ConditionContext {
    const encrypted = (req.socket as TLSSocket).encrypted === true;
    // A v4 peer of a dual-stack listener shows as ::ffff:a.b.c.d; IAM reports the v4 address.
    const sourceIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
    return {
      ...iam.principalConditions(authn.caller),
      'aws:SecureTransport': encrypted ? 'true' : 'false',
      'aws:SourceIp': sourceIp || undefined,
      'aws:RequestedRegion': authn.auth.region,
    };
  }

  const sandbox: Sandbox & SandboxControl = {
    endpoint: '',
    accountId: iam.accountId,
    region: config.region,
    get requests() {
      return log as ReadonlyArray<SandboxRequestRecord>;
    },
    setTrustPolicy: (roleName, policy) => iam.setTrustPolicy(roleName, policy),
    setRolePolicies: (roleName, policies) => iam.setRolePolicies(roleName, policies),
    setUserPolicies: (userName, policies) => iam.setUserPolicies(userName, policies),
    createBucket: async (name) => storage.createBucket(parseOrThrow(bucketNameSchema, name, 'bucket name')),
    createKey: (keyOptions) => publicKey(kms.createKey(keyOptions)),
    setKeyPolicy: (keyIdOrAlias, policy) => kms.setKeyPolicy(keyIdOrAlias, policy),
    kmsKey: (keyIdOrAlias) => {
      const key = kms.lookup(keyIdOrAlias);
      if (!key) throw new SandboxConfigError(`No KMS key '${keyIdOrAlias}' in the sandbox`, 'NOT_FOUND');
      return publicKey(key);
    },
    setFaults: (f) => faults.set(f),
    advanceClock: (ms) => clock.advance(ms),
    user: (name) => {
      const u = iam.user(name);
      return { arn: u.arn, accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey };
    },
    role: (name) => ({ arn: iam.role(name).arn }),
    stop: async () => {
      await Promise.all(
        servers.map((server) => {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeAllConnections();
          return closed;
        }),
      );
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const requestId = newRequestId();
    void (async () => {
      let service: AwsService = 's3';
      try {
        const body = await readBody(req);
        if ((req.url ?? '').startsWith('/_sandbox/')) return await handleAdmin(req, res, body, sandbox);
        service = serviceOf(req, body);
        if (service === 'sts') serveSts(req, res, body, requestId);
        else await serveS3(req, res, body, requestId);
      } catch (err) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err instanceof AwsError) return sendAwsError(res, service, req.method ?? 'GET', err, requestId);
        // Unexpected: log the detail here, answer with AWS's generic text (no internals to clients).
        console.error('[sandbox] internal error', err);
        sendAwsError(res, service, req.method ?? 'GET', new AwsError('InternalError', 500, 'We encountered an internal error. Please try again.'), requestId);
      }
    })();
  };

  // One handler behind both listeners: a request differs only in aws:SecureTransport.
  const servers: Array<http.Server | https.Server> = [http.createServer(onRequest)];
  if (options.httpsPort !== undefined) {
    const certificate = await sandboxCertificate(dataDir);
    servers.push(https.createServer({ cert: certificate.cert, key: certificate.key }, onRequest));
    sandbox.caCertificateFile = certificate.certFile;
  }
  // Node closes idle keep-alive connections after 5 s; a client that reuses one at that moment
  // sees ECONNRESET, which tests with retries off (maxAttempts 1) report as a failure. Keeping
  // them longer makes that race rare on a loaded machine.
  for (const server of servers) server.keepAliveTimeout = 30_000;
  const listen = async (server: http.Server | https.Server, port: number, scheme: string) => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${scheme}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  };
  try {
    sandbox.endpoint = await listen(servers[0], options.port ?? 0, 'http');
    if (servers[1]) sandbox.httpsEndpoint = await listen(servers[1], options.httpsPort!, 'https');
  } catch (err) {
    await sandbox.stop().catch(() => undefined);
    throw err;
  }
  return sandbox;
}
