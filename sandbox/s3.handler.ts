import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { IamStore } from './iam.store';
import { evaluatePolicySets } from './policy.evaluator';
import { decodeS3Payload } from './s3.payload';
import { assertStorableKey, classifyS3Request, type S3Operation } from './s3.operation';
import type { S3Storage } from './s3.storage';
import type { AuthenticatedRequest } from './request.authenticator';
import { AwsError, awsErrors, xmlEscape } from './sandbox.errors';

/**
 * Everything S3-specific after authentication: operation → IAM action, authorisation,
 * existence checks, then the decoded request goes to storage. Order follows AWS:
 * authorise first, then report NoSuchBucket/NoSuchUpload, so a caller without access
 * learns nothing about what exists.
 */

// Headers that describe the signed transport rather than the object. They must not reach
// storage: s3rver would persist `content-encoding: aws-chunked` as object metadata.
const TRANSPORT_HEADERS = new Set([
  'authorization',
  'host',
  'connection',
  'keep-alive',
  'expect',
  'content-length',
  'transfer-encoding',
  'x-amz-content-sha256',
  'x-amz-decoded-content-length',
  'x-amz-trailer',
  'x-amz-security-token',
  'x-amz-date',
]);

export interface S3Outcome {
  /** Storage's response, or undefined when the sandbox answered itself (abort). */
  response?: IncomingMessage;
  /** Status for sandbox-answered requests. */
  status?: number;
  /** XML body for sandbox-answered requests. */
  body?: string;
}

function deniedMessage(principalArn: string, action: string, resource: string, explicit: boolean): string {
  const reason = explicit ? 'with an explicit deny in an identity-based policy' : `because no identity-based policy allows the ${action} action`;
  return `User: ${principalArn} is not authorized to perform: ${action} on resource: "${resource}" ${reason}`;
}

/** Keys named in a DeleteObjects body (entities decoded; the body was already integrity-checked). */
function deleteKeys(xml: string): string[] {
  const keys: string[] = [];
  for (const m of xml.matchAll(/<Key>([\s\S]*?)<\/Key>/g)) {
    keys.push(
      m[1]
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&apos;/g, "'")
        .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
        .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
        .replace(/&amp;/g, '&'),
    );
  }
  return keys;
}

function storageHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || TRANSPORT_HEADERS.has(name)) continue;
    let v = Array.isArray(value) ? value.join(',') : value;
    if (name === 'content-encoding') {
      v = v
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e && e.toLowerCase() !== 'aws-chunked')
        .join(',');
      if (!v) continue;
    }
    out[name] = v;
  }
  return out;
}

export class S3Handler {
  constructor(
    private readonly iam: IamStore,
    private readonly storage: S3Storage,
  ) {}

  private authorize(authn: AuthenticatedRequest, action: string, resource: string): void {
    const decision = evaluatePolicySets(this.iam.policySets(authn.caller), action, resource);
    if (decision !== 'allow') {
      throw new AwsError('AccessDenied', 403, deniedMessage(authn.principalArn, action, resource, decision === 'explicit-deny'));
    }
  }

  async handle(method: string, url: string, headers: IncomingHttpHeaders, body: Buffer, authn: AuthenticatedRequest, operation: S3Operation): Promise<S3Outcome> {
    const describesBody = operation.name !== 'CompleteMultipartUpload' && operation.name !== 'CreateMultipartUpload';
    const payload = decodeS3Payload(headers, body, authn, describesBody);

    const bucket = operation.bucket;
    if (operation.name === 'DeleteObjects' && bucket) return this.deleteObjects(bucket, payload, authn, operation);
    this.authorize(authn, operation.action, operation.resource);
    if (bucket && operation.name !== 'CreateBucket' && !(await this.storage.bucketExists(bucket))) {
      throw awsErrors.noSuchBucket(bucket);
    }
    if (bucket && ['UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload'].includes(operation.name)) {
      const uploadId = operation.query.get('uploadId') ?? '';
      if (!(await this.storage.uploadExists(bucket, uploadId))) throw awsErrors.noSuchUpload(uploadId);
      if (operation.name === 'UploadPart') {
        const part = Number(operation.query.get('partNumber'));
        if (!Number.isInteger(part) || part < 1 || part > 10000) {
          throw new AwsError('InvalidArgument', 400, 'Part number must be an integer between 1 and 10000, inclusive');
        }
      }
      if (operation.name === 'AbortMultipartUpload') {
        await this.storage.abortUpload(bucket, uploadId);
        return { status: 204 };
      }
    }

    const response = await this.storage.forward({ method, url, headers: storageHeaders(headers), body: payload });
    return { response };
  }

  /**
   * DeleteObjects is answered here rather than by s3rver, whose implementation deletes keys
   * concurrently and races on shared directories. Like S3, each key is authorised on its
   * own and refusals are reported per key inside a 200 response.
   */
  private async deleteObjects(bucket: string, payload: Buffer, authn: AuthenticatedRequest, operation: S3Operation): Promise<S3Outcome> {
    const xml = payload.toString('utf8');
    if (!/<Delete[\s>]/.test(xml)) {
      throw new AwsError('MalformedXML', 400, 'The XML you provided was not well-formed or did not validate against our published schema');
    }
    const keys = deleteKeys(xml);
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(xml);
    if (keys.length === 0 || keys.length > 1000) {
      throw new AwsError('MalformedXML', 400, 'The XML you provided was not well-formed or did not validate against our published schema');
    }
    if (!(await this.storage.bucketExists(bucket))) throw awsErrors.noSuchBucket(bucket);
    const results: string[] = [];
    const policySets = this.iam.policySets(authn.caller);
    for (const key of keys) {
      const decision = evaluatePolicySets(policySets, 's3:DeleteObject', `arn:aws:s3:::${bucket}/${key}`);
      if (decision !== 'allow') {
        results.push(`<Error><Key>${xmlEscape(key)}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`);
        continue;
      }
      try {
        assertStorableKey(key);
      } catch (err) {
        results.push(`<Error><Key>${xmlEscape(key)}</Key><Code>InvalidArgument</Code><Message>${xmlEscape((err as Error).message)}</Message></Error>`);
        continue;
      }
      const path = `/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;
      const response = await this.storage.forward({ method: 'DELETE', url: path, headers: {}, body: Buffer.alloc(0) });
      response.resume();
      if ((response.statusCode ?? 500) >= 300) {
        results.push(`<Error><Key>${xmlEscape(key)}</Key><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`);
      } else if (!quiet) {
        results.push(`<Deleted><Key>${xmlEscape(key)}</Key></Deleted>`);
      }
    }
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${results.join('')}</DeleteResult>`;
    return { status: 200, body };
  }
}
