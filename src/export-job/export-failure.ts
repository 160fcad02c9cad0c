/**
 * Sorting delivery failures into the ones worth retrying and the ones that need a person.
 *
 * Transient: the endpoint is slow, overloaded or unreachable for a moment (5xx, throttling,
 * timeouts, resets). Retrying the same request soon is likely to work.
 * Permanent: the request itself cannot succeed until someone changes a policy, a bucket or a key
 * (AccessDenied, NoSuchBucket, InvalidAccessKeyId, SignatureDoesNotMatch, AssumeRole denied).
 * Retrying only burns time and money; the run stops and `connectionStatus` says why.
 * Expired credentials are their own case: fetch new ones, then retry.
 */

import { boundedReason } from '../connection-test/connection-test.service';

export type FailureKind = 'transient' | 'permanent' | 'expired-credentials';

const PERMANENT_CODES = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'AllAccessDisabled',
  'AccountProblem',
  'AuthorizationHeaderMalformed',
  'InvalidAccessKeyId',
  'InvalidBucketName',
  'InvalidClientTokenId',
  'InvalidIdentityToken',
  'InvalidObjectState',
  'KMS.AccessDeniedException',
  'KMS.DisabledException',
  'KMS.NotFoundException',
  'MalformedPolicyDocument',
  'NoSuchBucket',
  'PermanentRedirect',
  'RegionDisabledException',
  'SignatureDoesNotMatch',
]);

const EXPIRED_CODES = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired', 'RequestExpired']);

const TRANSIENT_CODES = new Set([
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ServiceUnavailable',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestTimeTooSkewed',
  'TimeoutError',
  'IDPCommunicationError',
]);

const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

interface AwsLikeError {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** The AWS error code of an SDK error (`AccessDenied`, `SlowDown`, ...), or its Node error code. */
export function errorCode(error: unknown): string | undefined {
  const candidate = error as AwsLikeError | undefined;
  for (const value of [candidate?.Code, candidate?.name, candidate?.code]) {
    if (typeof value === 'string' && value && value !== 'Error') return value;
  }
  return undefined;
}

export function classifyFailure(error: unknown): FailureKind {
  const candidate = (error ?? {}) as AwsLikeError;
  const code = errorCode(error);
  if (code && EXPIRED_CODES.has(code)) return 'expired-credentials';
  if (code && PERMANENT_CODES.has(code)) return 'permanent';
  if (code && (TRANSIENT_CODES.has(code) || TRANSIENT_NETWORK_CODES.has(code))) return 'transient';
  if (typeof candidate.code === 'string' && TRANSIENT_NETWORK_CODES.has(candidate.code)) return 'transient';
  const status = candidate.$metadata?.httpStatusCode;
  if (typeof status === 'number') {
    if (status >= 500 || status === 429 || status === 408) return 'transient';
    // Any other 4xx from S3/STS is about the request or its authorisation: retrying cannot help.
    if (status >= 400) return 'permanent';
  }
  // Not an AWS answer at all: a dropped socket, an aborted stream, a database hiccup. Worth a retry;
  // if it keeps happening the task fails after its last attempt without blaming the bucket.
  return 'transient';
}

/** A failure that stops the run: the task, the job and (when the bucket is to blame) the configuration record it. */
export class ExportTaskFailure extends Error {
  constructor(
    message: string,
    readonly kind: FailureKind,
    override readonly cause: unknown,
  ) {
    super(message);
    this.name = 'ExportTaskFailure';
  }
}

/** The error's own message on one line, bounded; the error code when there is no message. */
export function failureReason(error: unknown): string {
  const candidate = error as AwsLikeError | undefined;
  const code = errorCode(error);
  let reason = typeof candidate?.message === 'string' && candidate.message.trim() && candidate.message !== 'UnknownError' ? candidate.message : '';
  if (!reason) reason = code ?? 'Unknown error';
  if (code && !reason.includes(code)) reason = `${code}: ${reason}`;
  return boundedReason(reason);
}
