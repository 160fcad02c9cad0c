import { AwsError, awsErrors } from './sandbox.errors';
import { EMPTY_SHA256, hmac, sha256Hex, signaturesEqual } from './sigv4.verifier';

/**
 * Decoder for S3's `aws-chunked` content encoding.
 *
 * The SDK sends it for streaming uploads (`x-amz-content-sha256:
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER` with a CRC32 trailer by default), and other clients
 * send the signed variants. S3 stores only the decoded payload, so the framing has to be
 * removed here before the bytes reach storage; storing the framing is the classic fake-S3
 * bug that corrupts every streamed object.
 *
 * Wire format (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html):
 *   hex(size)[;chunk-signature=sig]\r\n <size bytes>\r\n ... 0[;chunk-signature=sig]\r\n
 *   [trailer-name:value\r\n ...][x-amz-trailer-signature:sig\r\n]\r\n
 */

/** What is needed to verify chunk signatures (only for the signed variants). */
export interface ChunkSigning {
  amzDate: string;
  scope: string;
  signingKey: Buffer;
  /** The signature from the Authorization header; the first chunk chains from it. */
  seedSignature: string;
}

export interface DecodedChunks {
  payload: Buffer;
  /** Trailing headers, lower-cased names, excluding `x-amz-trailer-signature`. */
  trailers: Map<string, string>;
}

const CRLF = Buffer.from('\r\n');

function incomplete(why: string): AwsError {
  return new AwsError('IncompleteBody', 400, `The request body is not valid aws-chunked data: ${why}.`);
}

function malformedTrailer(why: string): AwsError {
  return new AwsError('MalformedTrailerError', 400, `The request contained trailing data that was not well-formed or did not conform to our published schema (${why}).`);
}

/**
 * Decodes a complete aws-chunked body. With `signing`, every chunk signature (and the
 * trailer signature when `expectTrailerSignature`) is verified against the chain.
 */
export function decodeAwsChunked(body: Buffer, options: { signing?: ChunkSigning; expectTrailerSignature?: boolean }): DecodedChunks {
  const { signing } = options;
  const parts: Buffer[] = [];
  let offset = 0;
  let previous = signing?.seedSignature ?? '';

  const readLine = (): string => {
    const end = body.indexOf(CRLF, offset);
    if (end < 0) throw incomplete('missing CRLF');
    const line = body.subarray(offset, end).toString('latin1');
    offset = end + 2;
    return line;
  };

  for (;;) {
    const header = readLine();
    const [sizeText, ...extensions] = header.split(';');
    if (!/^[0-9a-fA-F]+$/.test(sizeText.trim())) throw incomplete(`bad chunk size '${sizeText}'`);
    const size = parseInt(sizeText.trim(), 16);
    if (offset + size > body.length) throw incomplete('chunk longer than the body');
    const data = body.subarray(offset, offset + size);
    offset += size;

    if (signing) {
      const provided = extensions.map((e) => /^chunk-signature=([0-9a-f]{64})$/i.exec(e.trim())).find(Boolean)?.[1];
      if (!provided) throw incomplete('chunk without chunk-signature in a signed stream');
      const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', signing.amzDate, signing.scope, previous, EMPTY_SHA256, sha256Hex(data)].join('\n');
      const expected = hmac(signing.signingKey, toSign).toString('hex');
      if (!signaturesEqual(expected, provided.toLowerCase())) throw awsErrors.signatureMismatch('s3');
      previous = expected;
    }

    if (size === 0) break;
    parts.push(data);
    if (!body.subarray(offset, offset + 2).equals(CRLF)) throw incomplete('chunk data not followed by CRLF');
    offset += 2;
  }

  const trailers = new Map<string, string>();
  let trailerSignature: string | undefined;
  const canonicalTrailers: string[] = [];
  // Trailer section: header lines until an empty line; a body that simply ends after the
  // last chunk (no trailers, no final blank line) is accepted as well.
  while (offset < body.length) {
    const line = readLine();
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformedTrailer(`bad trailer line '${line}'`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'x-amz-trailer-signature') trailerSignature = value.toLowerCase();
    else {
      trailers.set(name, value);
      canonicalTrailers.push(`${name}:${value}\n`);
    }
  }
  if (offset !== body.length) throw incomplete('data after the final chunk');

  if (signing && options.expectTrailerSignature) {
    if (!trailerSignature) throw malformedTrailer('missing x-amz-trailer-signature');
    const toSign = ['AWS4-HMAC-SHA256-TRAILER', signing.amzDate, signing.scope, previous, sha256Hex(canonicalTrailers.join(''))].join('\n');
    const expected = hmac(signing.signingKey, toSign).toString('hex');
    if (!signaturesEqual(expected, trailerSignature)) throw awsErrors.signatureMismatch('s3');
  }
  return { payload: Buffer.concat(parts), trailers };
}
