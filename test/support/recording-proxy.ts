import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as it crossed the wire to the sandbox: method, path with query, and every header. */
export interface WireRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface RecordingProxy {
  /** Point AWS clients here instead of at the sandbox. */
  endpoint: string;
  readonly requests: ReadonlyArray<WireRequest>;
  /** S3 object writes (PutObject, CreateMultipartUpload, UploadPart, Complete...), named as S3 names them. */
  objectWrites(): Array<WireRequest & { operation: string; key: string }>;
  stop(): Promise<void>;
}

/**
 * A transparent HTTP proxy in front of the sandbox that records every request's headers, which the
 * sandbox itself does not keep (its `requests` log has operations and statuses only, and it ignores
 * SSE headers today). The request is forwarded unchanged, `Host` included, so SigV4 signatures still
 * verify: what the sandbox checks is exactly what the client signed and what the proxy saw.
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: WireRequest[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers } });
    const forwarded = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    objectWrites() {
      return requests.flatMap((request) => {
        const [path, query = ''] = request.url.split('?');
        // Path-style: /<bucket>/<key>
        const key = decodeURIComponent(path.split('/').slice(2).join('/'));
        const params = new URLSearchParams(query);
        let operation: string | undefined;
        if (request.method === 'PUT' && params.has('partNumber')) operation = 'UploadPart';
        else if (request.method === 'PUT' && key) operation = 'PutObject';
        else if (request.method === 'POST' && params.has('uploads')) operation = 'CreateMultipartUpload';
        else if (request.method === 'POST' && params.has('uploadId')) operation = 'CompleteMultipartUpload';
        return operation ? [{ ...request, operation, key }] : [];
      });
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
