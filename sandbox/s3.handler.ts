import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { IamStore } from './iam.store';
import type { KmsStore } from './kms.store';
import type { ObjectStore } from './object.store';
import { evaluatePolicySets, type ConditionContext } from './policy.evaluator';
import type { AuthenticatedRequest } from './request.authenticator';
import { handleBucketOperation } from './s3.bucket.handler';
import { listObjects, listBuckets } from './s3.list.handler';
import { MultipartUploads } from './s3.multipart.handler';
import { handleObjectOperation } from './s3.object.handler';
import type { S3Operation } from './s3.operation';
import { encryptionConditions } from './s3.encryption';
import { decodeS3Payload, type DecodedPayload } from './s3.payload';
import { AwsError, awsErrors } from './sandbox.errors';

/**
 * Everything S3-specific after authentication: operation → IAM action, authorisation,
 * existence checks, then the operation itself against the sandbox's own storage. Order
 * follows AWS: authorise first, then report NoSuchBucket/NoSuchKey/NoSuchUpload, so a caller
 * without access learns nothing about what exists.
 */

/** One authenticated S3 request, as every operation handler sees it. */
export interface S3Call {
  operation: S3Operation;
  headers: IncomingHttpHeaders;
  /** The decoded body and the checksums it was verified against. */
  body: DecodedPayload;
  authn: AuthenticatedRequest;
  /** Condition keys of the request (principal, transport); operations add their own. */
  conditions: ConditionContext;
}

/** What the sandbox answers; `stream` is an object's bytes (GET), `body` an XML document. */
export interface S3Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  stream?: Readable;
}

/** What operation handlers share: storage, IAM and the account's identity. */
export interface S3Services {
  iam: IamStore;
  kms: KmsStore;
  store: ObjectStore;
  uploads: MultipartUploads;
  region: string;
  /** Throws S3's AccessDenied unless the caller's policies allow `action` on `resource`. */
  authorize(call: S3Call, action: string, resource: string, conditions?: ConditionContext): void;
  /** Whether the caller's policies allow `action` (for answers that depend on it, like NoSuchKey). */
  allows(call: S3Call, action: string, resource: string): boolean;
}

function deniedMessage(principalArn: string, action: string, resource: string, explicit: boolean): string {
  const reason = explicit ? 'with an explicit deny in an identity-based policy' : `because no identity-based policy allows the ${action} action`;
  return `User: ${principalArn} is not authorized to perform: ${action} on resource: "${resource}" ${reason}`;
}

// Create/CompleteMultipartUpload carry checksum headers that describe the final object, not
// their own (XML or empty) body.
const CHECKSUM_HEADERS_DESCRIBE_OBJECT = new Set(['CreateMultipartUpload', 'CompleteMultipartUpload']);

export class S3Handler {
  private readonly services: S3Services;

  constructor(iam: IamStore, store: ObjectStore, kms: KmsStore, region: string) {
    const decide = (call: S3Call, action: string, resource: string, conditions: ConditionContext = {}) =>
      evaluatePolicySets(iam.policySets(call.authn.caller), action, resource, { ...call.conditions, ...conditions });
    this.services = {
      iam,
      kms,
      store,
      region,
      uploads: new MultipartUploads(store),
      authorize: (call, action, resource, conditions) => {
        const decision = decide(call, action, resource, conditions);
        if (decision !== 'allow') throw new AwsError('AccessDenied', 403, deniedMessage(call.authn.principalArn, action, resource, decision === 'explicit-deny'));
      },
      allows: (call, action, resource) => decide(call, action, resource) === 'allow',
    };
  }

  async handle(headers: IncomingHttpHeaders, rawBody: Buffer, authn: AuthenticatedRequest, operation: S3Operation, conditions: ConditionContext): Promise<S3Answer> {
    const body = decodeS3Payload(headers, rawBody, authn, !CHECKSUM_HEADERS_DESCRIBE_OBJECT.has(operation.name));
    const call: S3Call = { operation, headers, body, authn, conditions };
    const { services } = this;
    const { bucket } = operation;

    if (operation.name === 'ListBuckets') {
      services.authorize(call, operation.action, operation.resource);
      return listBuckets(services);
    }
    if (!bucket) throw awsErrors.notImplemented(operation.name);
    // DeleteObjects is authorised per key, inside its handler.
    if (operation.name !== 'DeleteObjects') services.authorize(call, operation.action, operation.resource, operationConditions(call));
    if (operation.name !== 'CreateBucket' && !services.store.hasBucket(bucket)) throw awsErrors.noSuchBucket(bucket);

    switch (operation.name) {
      case 'ListObjects':
      case 'ListObjectsV2':
        return listObjects(services, call, bucket);
      case 'CreateMultipartUpload':
      case 'UploadPart':
      case 'CompleteMultipartUpload':
      case 'AbortMultipartUpload':
      case 'ListParts':
      case 'ListMultipartUploads':
        return services.uploads.handle(services, call, bucket);
      case 'PutObject':
      case 'GetObject':
      case 'HeadObject':
      case 'DeleteObject':
      case 'DeleteObjects':
        return handleObjectOperation(services, call, bucket);
      default:
        return handleBucketOperation(services, call, bucket);
    }
  }
}

/** The condition keys of the operation itself: ListBucket's prefix and delimiter, a write's SSE headers. */
function operationConditions(call: S3Call): ConditionContext {
  const { name, query: q } = call.operation;
  if (name === 'PutObject' || name === 'CreateMultipartUpload') return encryptionConditions(call);
  if (name !== 'ListObjects' && name !== 'ListObjectsV2') return {};
  return { 's3:prefix': q.get('prefix') ?? undefined, 's3:delimiter': q.get('delimiter') ?? undefined, 's3:max-keys': q.get('max-keys') ?? undefined };
}
