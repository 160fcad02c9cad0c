import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * SigV4 primitives the sandbox uses to *recompute* a signature from the bytes it received.
 *
 * Deliberately independent from `@smithy/signature-v4`: if the sandbox reused the SDK's
 * signer, a canonicalisation bug there would sign and verify identically and hide itself.
 * Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */

/** The fields of an `Authorization: AWS4-HMAC-SHA256 ...` header. */
export interface ParsedAuthorization {
  accessKeyId: string;
  /** `YYYYMMDD` from the credential scope. */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  /** `date/region/service/aws4_request`. */
  scope: string;
}

/** The parts of a received request the canonical request is built from. */
export interface RawRequest {
  method: string;
  /** Path and query exactly as received (`req.url`), still percent-encoded. */
  rawUrl: string;
  /** Node's `req.rawHeaders`: alternating names and values, duplicates preserved. */
  rawHeaders: string[];
}

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/** Parses the Authorization header; returns an error message instead of throwing. */
export function parseAuthorization(header: string): ParsedAuthorization | string {
  const match = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(header.trim());
  if (!match) return 'Unsupported authorization type (the sandbox only speaks AWS4-HMAC-SHA256).';
  const fields = new Map<string, string>();
  for (const part of match[1].split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    return "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.";
  }
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1])) {
    return `Credential should be scoped to a valid region and service, not '${credential}'.`;
  }
  const [accessKeyId, date, region, service] = parts;
  return {
    accessKeyId,
    date,
    region,
    service,
    signedHeaders: signedHeaders.split(';').map((h) => h.trim().toLowerCase()),
    signature: signature.toLowerCase(),
    scope: `${date}/${region}/${service}/aws4_request`,
  };
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** decodeURIComponent, or the text as it is when it is not valid percent-encoding (as S3 takes it). */
export function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Canonical URI. S3 signs the path encoded once (the SDK escapes each key segment and
 * S3 does not normalise `.`/`..`); every other service encodes the already-encoded path a
 * second time. We decode and re-encode so that equivalent spellings (`%7e` vs `~`) agree,
 * as AWS does.
 */
export function canonicalUri(rawPath: string, service: string): string {
  const segments = rawPath.split('/').map((s) => uriEncode(safeDecode(s)));
  const once = segments.join('/') || '/';
  return service === 's3' ? once : once.split('/').map(uriEncode).join('/') || '/';
}

/** Canonical query string: pairs decoded, strictly re-encoded, sorted by key then value. */
export function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  return rawQuery
    .split('&')
    .filter((p) => p.length > 0)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      return [uriEncode(safeDecode(key)), uriEncode(safeDecode(value))] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * Canonical headers for the signed header names, from the raw header list so that
 * repeated headers are joined with `,` exactly as the signer saw them (Node's
 * `req.headers` would join some with `, ` and drop others).
 */
export function canonicalHeaders(rawHeaders: string[], signedHeaders: string[]): string {
  const values = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const list = values.get(name) ?? [];
    list.push(rawHeaders[i + 1].trim().replace(/\s+/g, ' '));
    values.set(name, list);
  }
  return signedHeaders.map((name) => `${name}:${(values.get(name) ?? []).join(',')}\n`).join('');
}

/** Builds the canonical request string. */
export function canonicalRequest(req: RawRequest, auth: ParsedAuthorization, payloadHash: string): string {
  const q = req.rawUrl.indexOf('?');
  const rawPath = q < 0 ? req.rawUrl : req.rawUrl.slice(0, q);
  const rawQuery = q < 0 ? '' : req.rawUrl.slice(q + 1);
  return [
    req.method.toUpperCase(),
    canonicalUri(rawPath, auth.service),
    canonicalQuery(rawQuery),
    canonicalHeaders(req.rawHeaders, auth.signedHeaders),
    auth.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The request-level string to sign. */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
}

/** kSigning = HMAC chain over date, region, service and the terminator. */
export function deriveSigningKey(secret: string, auth: Pick<ParsedAuthorization, 'date' | 'region' | 'service'>): Buffer {
  const kDate = hmac(`AWS4${secret}`, auth.date);
  const kRegion = hmac(kDate, auth.region);
  const kService = hmac(kRegion, auth.service);
  return hmac(kService, 'aws4_request');
}

/** Constant-time comparison of two hex signatures (length leaks nothing useful here). */
export function signaturesEqual(expectedHex: string, providedHex: string): boolean {
  const a = Buffer.from(expectedHex, 'utf8');
  const b = Buffer.from(providedHex, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Parses `YYYYMMDDTHHMMSSZ` into epoch milliseconds, or NaN. */
export function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}
