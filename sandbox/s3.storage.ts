import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/**
 * Object storage: an in-process `s3rver` (filesystem-backed fake S3) reached over a
 * private loopback port. s3rver does not verify signatures, so its port is guarded by a
 * random per-process token header: only this sandbox's proxy, which has already verified
 * the caller, can reach it. Anyone else on the machine gets 403.
 */

// s3rver ships no type definitions; this is the part of its API we rely on.
interface S3rverStore {
  getBucket(name: string): Promise<unknown | null>;
  putBucket(name: string): Promise<unknown>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
}
interface S3rverApp {
  store: S3rverStore;
  logger: { exceptions: { unhandle(): void }; close(): void };
  callback(): http.RequestListener;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverApp;
const S3rver = require('s3rver') as S3rverCtor;

const TOKEN_HEADER = 'x-sandbox-storage-token';

/** s3rver's multipart upload ids are 32 hex chars; anything else must never reach a path. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

export interface ForwardRequest {
  method: string;
  /** Path and query as received from the client (path-style). */
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

export class S3Storage {
  private readonly agent = new http.Agent({ keepAlive: true });

  private constructor(
    private readonly app: S3rverApp,
    private readonly server: http.Server,
    private readonly port: number,
    private readonly token: string,
  ) {}

  /** Starts s3rver on a random loopback port, storing objects under `directory`. */
  static async start(directory: string, silent: boolean): Promise<S3Storage> {
    await fs.mkdir(directory, { recursive: true });
    const app = new S3rver({ directory, silent, vhostBuckets: false, resetOnClose: false });
    const handler = app.callback();
    const token = randomBytes(24).toString('hex');
    const server = http.createServer((req, res) => {
      if (req.headers[TOKEN_HEADER] !== token) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('sandbox storage port: use the sandbox endpoint\n');
        return;
      }
      delete req.headers[TOKEN_HEADER];
      handler(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new S3Storage(app, server, (server.address() as AddressInfo).port, token);
  }

  async bucketExists(name: string): Promise<boolean> {
    return (await this.app.store.getBucket(name)) !== null;
  }

  async createBucket(name: string): Promise<void> {
    await this.app.store.putBucket(name);
  }

  private uploadDir(bucket: string, uploadId: string): string {
    return path.join(this.app.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  }

  async uploadExists(bucket: string, uploadId: string): Promise<boolean> {
    if (!UPLOAD_ID.test(uploadId)) return false;
    return fs.stat(this.uploadDir(bucket, uploadId)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  /** AbortMultipartUpload: s3rver 3.7 has no route for it, so parts are removed here. */
  async abortUpload(bucket: string, uploadId: string): Promise<void> {
    if (!UPLOAD_ID.test(uploadId)) return;
    await fs.rm(this.uploadDir(bucket, uploadId), { recursive: true, force: true });
  }

  /** Sends an already-authorised request (decoded body) to s3rver and returns its response. */
  forward(request: ForwardRequest): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          agent: this.agent,
          method: request.method,
          path: request.url,
          headers: {
            ...request.headers,
            host: `127.0.0.1:${this.port}`,
            'content-length': String(request.body.length),
            [TOKEN_HEADER]: this.token,
          },
        },
        resolve,
      );
      req.on('error', reject);
      req.end(request.body);
    });
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // close() alone waits for idle keep-alive sockets to time out.
    this.server.closeAllConnections();
    this.agent.destroy();
    await closed;
    this.app.logger.exceptions.unhandle();
    this.app.logger.close();
  }
}
