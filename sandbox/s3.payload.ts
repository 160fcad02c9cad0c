import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { decodeAwsChunked } from './aws-chunked.decoder';
import { type ChecksumAlgorithm, checksumAlgorithmOf, checksumDisplayName, computeChecksum, isWellFormedChecksum } from './checksum.util';
import type { AuthenticatedRequest } from './request.authenticator';
import { header } from './request.authenticator';
import { AwsError } from './sandbox.errors';
import { sha256Hex } from './sigv4.verifier';

/** A decoded body and the integrity claims it was verified against. */
export interface DecodedPayload {
  payload: Buffer;
  /** The flexible checksum the client sent (header or trailer), verified; S3 stores it with the object. */
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
  /** True when the request carried a Content-MD5 (verified). */
  contentMd5: boolean;
}

/**
 * Turns a received S3 body into the bytes S3 would store, enforcing every integrity claim
 * the client made: the signed SHA-256, aws-chunked framing and chunk signatures, the
 * declared decoded length, `Content-MD5` and flexible checksums (header or trailer).
 */
export function decodeS3Payload(
  headers: IncomingHttpHeaders,
  body: Buffer,
  authn: AuthenticatedRequest,
  /**
   * False for CreateMultipartUpload/CompleteMultipartUpload, whose checksum headers
   * describe the final object rather than the request body.
   */
  checksumHeadersDescribeBody = true,
): DecodedPayload {
  const mode = header(headers, 'x-amz-content-sha256') ?? '';
  let payload = body;
  const claims = new Map<string, string>();

  if (mode.startsWith('STREAMING-')) {
    const signed = mode.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
    const decoded = decodeAwsChunked(body, {
      signing: signed ? { amzDate: authn.amzDate, scope: authn.auth.scope, signingKey: authn.signingKey, seedSignature: authn.auth.signature } : undefined,
      expectTrailerSignature: signed && mode.endsWith('-TRAILER'),
    });
    payload = decoded.payload;
    const declaredLength = header(headers, 'x-amz-decoded-content-length');
    if (declaredLength === undefined) {
      throw new AwsError('MissingContentLength', 411, 'You must provide the x-amz-decoded-content-length HTTP header with aws-chunked uploads.');
    }
    if (Number(declaredLength) !== payload.length) {
      throw new AwsError('IncompleteBody', 400, 'You did not provide the number of bytes specified by the x-amz-decoded-content-length HTTP header.');
    }
    const declaredTrailers = (header(headers, 'x-amz-trailer') ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean);
    for (const name of declaredTrailers) {
      const value = decoded.trailers.get(name);
      if (value === undefined) throw new AwsError('MalformedTrailerError', 400, `The request declared trailer '${name}' but did not send it.`);
      claims.set(name, value);
    }
    for (const name of decoded.trailers.keys()) {
      if (!declaredTrailers.includes(name)) throw new AwsError('MalformedTrailerError', 400, `The request sent trailer '${name}' that x-amz-trailer did not declare.`);
    }
  } else if (mode !== 'UNSIGNED-PAYLOAD' && sha256Hex(body) !== mode) {
    throw new AwsError('XAmzContentSHA256Mismatch', 400, "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }

  if (checksumHeadersDescribeBody) for (const name of Object.keys(headers)) if (checksumAlgorithmOf(name)) claims.set(name, header(headers, name) ?? '');
  const checksums = [...claims].flatMap(([name, value]) => {
    const algorithm = checksumAlgorithmOf(name);
    return algorithm ? [{ algorithm, value }] : [];
  });
  // S3 keeps one checksum per object, so it refuses a request that names two.
  if (checksums.length > 1) throw new AwsError('InvalidRequest', 400, 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  const checksum = checksums[0];
  if (checksum) {
    if (!isWellFormedChecksum(checksum.algorithm, checksum.value)) {
      throw new AwsError('InvalidRequest', 400, `Value for x-amz-checksum-${checksum.algorithm} header is invalid.`);
    }
    if (computeChecksum(checksum.algorithm, payload) !== checksum.value) {
      throw new AwsError('BadDigest', 400, `The ${checksumDisplayName(checksum.algorithm)} you specified did not match the calculated checksum.`);
    }
  }

  const md5 = header(headers, 'content-md5');
  if (md5 !== undefined) {
    // A value that is not base64 of 16 bytes is malformed (InvalidDigest), not a mismatch.
    if (Buffer.from(md5, 'base64').length !== 16) throw new AwsError('InvalidDigest', 400, 'The Content-MD5 you specified was invalid.', { 'Content-MD5': md5 });
    if (createHash('md5').update(payload).digest('base64') !== md5) {
      throw new AwsError('BadDigest', 400, 'The Content-MD5 you specified did not match what we received.');
    }
  }
  return { payload, checksum, contentMd5: md5 !== undefined };
}
