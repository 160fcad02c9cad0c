import type { IncomingMessage, ServerResponse } from 'node:http';
import { scopeService } from './request.authenticator';
import { AwsError, awsErrors, type AwsService, s3ErrorXml, stsErrorXml } from './sandbox.errors';

/** The HTTP side shared by both listeners: reading bodies, telling S3 from STS, writing errors. */

/** Bodies are buffered: signatures and checksums cover the whole payload. */
const MAX_BODY_BYTES = 512 * 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new AwsError('EntityTooLarge', 400, 'Your proposed upload exceeds the maximum allowed size (sandbox limit 512 MiB).'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendAwsError(res: ServerResponse, service: AwsService, method: string, error: AwsError, requestId: string): void {
  const xml = service === 's3' ? s3ErrorXml(error, requestId) : stsErrorXml(error, requestId);
  res.writeHead(error.status, {
    'content-type': service === 's3' ? 'application/xml' : 'text/xml',
    [service === 's3' ? 'x-amz-request-id' : 'x-amzn-requestid']: requestId,
    // HEAD responses have no body; S3 clients then read the status code only.
    'content-length': method === 'HEAD' ? 0 : Buffer.byteLength(xml),
  });
  res.end(method === 'HEAD' ? undefined : xml);
}

/**
 * STS and S3 share one port: the service is the one named in the SigV4 credential scope.
 * Unsigned requests are told apart by shape (STS is a form POST with an `Action`).
 */
export function serviceOf(req: IncomingMessage, body: Buffer): AwsService {
  const scoped = scopeService(req.headers);
  if (scoped === 'sts' || scoped === 's3') return scoped;
  if (scoped) throw awsErrors.malformedAuth('s3', `The sandbox serves only the 's3' and 'sts' services, not '${scoped}'.`);
  const form = String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  return req.method === 'POST' && form && /(^|&)Action=/.test(body.toString('latin1')) ? 'sts' : 's3';
}
