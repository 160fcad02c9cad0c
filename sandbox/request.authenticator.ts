import type { IncomingHttpHeaders } from 'node:http';
import type { Caller, IamStore } from './iam.store';
import type { SandboxClock } from './sandbox.clock';
import { AwsError, awsErrors, type AwsService } from './sandbox.errors';
import { canonicalRequest, deriveSigningKey, hmac, type ParsedAuthorization, parseAmzDate, parseAuthorization, sha256Hex, signaturesEqual, stringToSign } from './sigv4.verifier';

/** The request as the authenticator needs it (a subset of `http.IncomingMessage`). */
export interface ReceivedRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: IncomingHttpHeaders;
}

/** A request whose signature checked out, and who made it. */
export interface AuthenticatedRequest {
  caller: Caller;
  principalArn: string;
  auth: ParsedAuthorization;
  amzDate: string;
  /** Needed again to verify aws-chunked chunk signatures. */
  signingKey: Buffer;
}

/** AWS tolerates 15 minutes between the signed timestamp and its own clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;

/** The `x-amz-content-sha256` values S3 accepts besides a hex SHA-256. */
export const S3_PAYLOAD_MODES = [
  'UNSIGNED-PAYLOAD',
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
] as const;

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Reads the service name from the credential scope; this is how one port serves S3 and STS. */
export function scopeService(headers: IncomingHttpHeaders): string | undefined {
  const auth = header(headers, 'authorization');
  if (!auth) return undefined;
  const parsed = parseAuthorization(auth);
  return typeof parsed === 'string' ? undefined : parsed.service;
}

/**
 * Verifies a header-signed SigV4 request and resolves the caller. Checks run in the order
 * AWS reports them: malformed header, unknown key, bad/expired session token, clock skew,
 * then the signature itself. The payload hash for S3 is taken from `x-amz-content-sha256`
 * (checked against the body afterwards by the S3 payload decoder); STS hashes the body.
 */
export function authenticate(req: ReceivedRequest, body: Buffer, service: AwsService, iam: IamStore, clock: SandboxClock): AuthenticatedRequest {
  const authHeader = header(req.headers, 'authorization');
  if (!authHeader) {
    if (/[?&]X-Amz-Algorithm=/i.test(req.url)) throw awsErrors.notImplemented('presigned URLs are not supported');
    throw awsErrors.missingAuth(service);
  }
  const auth = parseAuthorization(authHeader);
  if (typeof auth === 'string') throw awsErrors.malformedAuth(service, auth);
  if (!auth.signedHeaders.includes('host')) throw awsErrors.malformedAuth(service, "'Host' must be a signed header.");

  const amzDate = header(req.headers, 'x-amz-date');
  if (!amzDate || !auth.signedHeaders.includes('x-amz-date')) {
    throw new AwsError('AccessDenied', 403, 'AWS authentication requires a valid, signed x-amz-date header.');
  }
  const signedAt = parseAmzDate(amzDate);
  if (Number.isNaN(signedAt)) throw new AwsError('AccessDenied', 403, `Invalid x-amz-date '${amzDate}'.`);
  if (amzDate.slice(0, 8) !== auth.date) {
    throw awsErrors.malformedAuth(service, `Invalid credential date "${auth.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
  }

  const caller = iam.findCaller(auth.accessKeyId);
  if (!caller) throw awsErrors.unknownAccessKey(service, auth.accessKeyId);
  const token = header(req.headers, 'x-amz-security-token');
  let secret: string;
  if (caller.kind === 'session') {
    // The token must be the one issued with these keys: keys alone are not enough.
    if (!token || !signaturesEqual(sha256Hex(token), sha256Hex(caller.session.sessionToken))) throw awsErrors.invalidToken(service);
    if (clock.now() >= caller.session.expiresAt) throw awsErrors.expiredToken(service);
    secret = caller.session.secretAccessKey;
  } else {
    if (token) throw awsErrors.invalidToken(service);
    secret = caller.user.secretAccessKey;
  }

  if (Math.abs(Date.now() - signedAt) > MAX_SKEW_MS) throw awsErrors.skewed(service, amzDate);

  let payloadHash: string;
  if (service === 's3') {
    const claimed = header(req.headers, 'x-amz-content-sha256');
    if (!claimed) throw new AwsError('InvalidRequest', 400, 'Missing required header for this request: x-amz-content-sha256');
    if (!/^[0-9a-f]{64}$/.test(claimed) && !(S3_PAYLOAD_MODES as readonly string[]).includes(claimed)) {
      throw new AwsError(
        'InvalidArgument',
        400,
        `x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value the sandbox supports, or a valid sha256 value (got '${claimed}').`,
      );
    }
    payloadHash = claimed;
  } else {
    payloadHash = sha256Hex(body);
  }

  const canonical = canonicalRequest({ method: req.method, rawUrl: req.url, rawHeaders: req.rawHeaders }, auth, payloadHash);
  const toSign = stringToSign(amzDate, auth.scope, canonical);
  const signingKey = deriveSigningKey(secret, auth);
  const expected = hmac(signingKey, toSign).toString('hex');
  if (!signaturesEqual(expected, auth.signature)) {
    // S3 echoes what it signed (never the key) so that client bugs can be diagnosed.
    throw awsErrors.signatureMismatch(service, {
      AWSAccessKeyId: auth.accessKeyId,
      StringToSign: toSign,
      SignatureProvided: auth.signature,
      CanonicalRequest: canonical,
    });
  }

  const principalArn = caller.kind === 'user' ? caller.user.arn : caller.session.arn;
  return { caller, principalArn, auth, amzDate, signingKey };
}
