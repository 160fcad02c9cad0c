import { randomBytes } from 'node:crypto';

/** Which AWS wire format an error must be rendered in. */
export type AwsService = 's3' | 'sts';

/**
 * An error the sandbox answers with, carrying AWS's error code and HTTP status.
 *
 * The code is the contract (SDKs surface it as `err.name`); the message mirrors AWS's
 * wording so that text shown to users (e.g. an export's `connectionStatus`) reads the same
 * as against real AWS, but nothing should branch on it.
 */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** Extra elements S3 puts inside `<Error>` (e.g. `BucketName`, `AWSAccessKeyId`). */
    readonly detail: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AwsError';
  }
}

/** Escapes text for an XML element body. */
export function xmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** A request id in the shape AWS uses (16 upper-case hex chars for S3, a UUID-ish for STS). */
export function newRequestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/** Renders S3's `<Error>` document. */
export function s3ErrorXml(error: AwsError, requestId: string): string {
  const detail = Object.entries(error.detail)
    .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message>` +
    `${detail}<RequestId>${requestId}</RequestId><HostId>sandbox</HostId></Error>`
  );
}

/**
 * Renders STS's `<ErrorResponse>` document (awsQuery protocol). `Type` is `Sender` for
 * 4xx and `Receiver` for 5xx, which is what the SDK's error parser expects.
 */
export function stsErrorXml(error: AwsError, requestId: string): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' +
    `<Error><Type>${type}</Type><Code>${xmlEscape(error.code)}</Code>` +
    `<Message>${xmlEscape(error.message)}</Message></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

/**
 * AWS's standard errors, in one place so wording and status stay consistent between the
 * S3 and STS paths (the two services word the same failure differently).
 */
export const awsErrors = {
  signatureMismatch(service: AwsService, detail: Record<string, string> = {}): AwsError {
    return service === 's3'
      ? new AwsError('SignatureDoesNotMatch', 403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', detail)
      : new AwsError(
          'SignatureDoesNotMatch',
          403,
          'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
        );
  },
  unknownAccessKey(service: AwsService, accessKeyId: string): AwsError {
    return service === 's3'
      ? new AwsError('InvalidAccessKeyId', 403, 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId })
      : new AwsError('InvalidClientTokenId', 403, 'The security token included in the request is invalid.');
  },
  invalidToken(service: AwsService): AwsError {
    return service === 's3'
      ? new AwsError('InvalidToken', 400, 'The provided token is malformed or otherwise invalid.')
      : new AwsError('InvalidClientTokenId', 403, 'The security token included in the request is invalid.');
  },
  expiredToken(service: AwsService): AwsError {
    return service === 's3'
      ? new AwsError('ExpiredToken', 400, 'The provided token has expired.')
      : new AwsError('ExpiredToken', 400, 'The security token included in the request is expired');
  },
  missingAuth(service: AwsService): AwsError {
    return service === 's3' ? new AwsError('AccessDenied', 403, 'Access Denied') : new AwsError('MissingAuthenticationToken', 403, 'Request is missing Authentication Token');
  },
  malformedAuth(service: AwsService, message: string): AwsError {
    return service === 's3' ? new AwsError('AuthorizationHeaderMalformed', 400, message) : new AwsError('IncompleteSignature', 400, message);
  },
  skewed(service: AwsService, amzDate: string): AwsError {
    return service === 's3'
      ? new AwsError('RequestTimeTooSkewed', 403, 'The difference between the request time and the current time is too large.', {
          RequestTime: amzDate,
          MaxAllowedSkewMilliseconds: '900000',
        })
      : new AwsError('SignatureDoesNotMatch', 403, `Signature expired: ${amzDate} is now earlier or later than the allowed 15 minute window.`);
  },
  noSuchBucket(bucket: string): AwsError {
    return new AwsError('NoSuchBucket', 404, 'The specified bucket does not exist', { BucketName: bucket });
  },
  noSuchUpload(uploadId: string): AwsError {
    return new AwsError('NoSuchUpload', 404, 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', {
      UploadId: uploadId,
    });
  },
  noSuchKey(key: string): AwsError {
    return new AwsError('NoSuchKey', 404, 'The specified key does not exist.', { Key: key });
  },
  /** S3's bare refusal, used where S3 gives no detail (e.g. a missing key without s3:ListBucket). */
  accessDenied(): AwsError {
    return new AwsError('AccessDenied', 403, 'Access Denied');
  },
  invalidArgument(message: string, name: string, value?: string): AwsError {
    return new AwsError('InvalidArgument', 400, message, value === undefined ? { ArgumentName: name } : { ArgumentName: name, ArgumentValue: value });
  },
  invalidRequest(message: string): AwsError {
    return new AwsError('InvalidRequest', 400, message);
  },
  malformedXml(): AwsError {
    return new AwsError('MalformedXML', 400, 'The XML you provided was not well-formed or did not validate against our published schema');
  },
  notImplemented(what: string): AwsError {
    return new AwsError('NotImplemented', 501, `A header or parameter you provided implies functionality that is not implemented (sandbox: ${what}).`);
  },
  validation(message: string): AwsError {
    return new AwsError('ValidationError', 400, message);
  },
};
