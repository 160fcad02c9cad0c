import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectAttributes, ObjectRecord } from './object.store';
import { header } from './request.authenticator';
import { authorizeDecrypt, encryptionForWrite, singleRequestEtag } from './s3.encryption';
import type { S3Answer, S3Call, S3Services } from './s3.handler';
import { AwsError, awsErrors } from './sandbox.errors';
import { el, xmlDocument, xmlElements, xmlUnescape } from './s3.xml';

/** PutObject, GetObject, HeadObject, DeleteObject and DeleteObjects. */

// System metadata S3 keeps with an object and returns on GET/HEAD.
const STORED_HEADERS = ['content-type', 'content-encoding', 'content-disposition', 'content-language', 'cache-control', 'expires', 'x-amz-website-redirect-location'];

/** The object's metadata as a PutObject or CreateMultipartUpload request states it. */
export function attributesFromRequest(headers: IncomingHttpHeaders): Omit<ObjectAttributes, 'encryption' | 'checksum'> {
  const stored: Record<string, string> = {};
  for (const name of STORED_HEADERS) {
    let value = header(headers, name);
    // aws-chunked is transport framing; S3 does not keep it as the object's encoding.
    if (name === 'content-encoding' && value !== undefined) {
      value = value
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e && e.toLowerCase() !== 'aws-chunked')
        .join(',');
    }
    if (value) stored[name] = value;
  }
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) metadata[name.slice('x-amz-meta-'.length)] = Array.isArray(value) ? value.join(',') : value;
  }
  return { headers: stored, metadata };
}

/** Headers S3 sends with an object (GET, HEAD), before range and checksum specifics. */
export function objectHeaders(record: ObjectRecord): Record<string, string> {
  const out: Record<string, string> = {
    'last-modified': new Date(record.lastModified).toUTCString(),
    etag: `"${record.etag}"`,
    'accept-ranges': 'bytes',
    // S3's default when the writer named no type.
    'content-type': 'binary/octet-stream',
    ...record.headers,
    ...encryptionHeaders(record.encryption),
  };
  for (const [name, value] of Object.entries(record.metadata)) out[`x-amz-meta-${name}`] = value;
  return out;
}

/** `x-amz-server-side-encryption*` answer headers, as S3 adds them to writes and reads. */
export function encryptionHeaders(encryption: ObjectRecord['encryption']): Record<string, string> {
  const out: Record<string, string> = { 'x-amz-server-side-encryption': encryption.algorithm };
  if (encryption.kmsKeyArn) out['x-amz-server-side-encryption-aws-kms-key-id'] = encryption.kmsKeyArn;
  if (encryption.bucketKeyEnabled) out['x-amz-server-side-encryption-bucket-key-enabled'] = 'true';
  return out;
}

/** Checksum answer headers; S3 returns them only when asked (`x-amz-checksum-mode: ENABLED`). */
export function checksumHeaders(record: Pick<ObjectRecord, 'checksum'>): Record<string, string> {
  if (!record.checksum) return {};
  return { [`x-amz-checksum-${record.checksum.algorithm}`]: record.checksum.value, 'x-amz-checksum-type': record.checksum.type };
}

export async function handleObjectOperation(services: S3Services, call: S3Call, bucket: string): Promise<S3Answer> {
  switch (call.operation.name) {
    case 'PutObject':
      return putObject(services, call, bucket);
    case 'GetObject':
    case 'HeadObject':
      return getObject(services, call, bucket);
    case 'DeleteObject':
      await services.store.delete(bucket, call.operation.key!);
      return { status: 204 };
    case 'DeleteObjects':
      return deleteObjects(services, call, bucket);
    default:
      throw awsErrors.notImplemented(call.operation.name);
  }
}

async function putObject(services: S3Services, call: S3Call, bucket: string): Promise<S3Answer> {
  const { payload, checksum } = call.body;
  const encryption = encryptionForWrite(services, call, bucket);
  const record = await services.store.put(
    bucket,
    call.operation.key!,
    { body: payload },
    {
      ...attributesFromRequest(call.headers),
      encryption,
      checksum: checksum && { ...checksum, type: 'FULL_OBJECT' },
      size: payload.length,
      etag: singleRequestEtag(payload, encryption),
    },
  );
  return { status: 200, headers: { etag: `"${record.etag}"`, ...encryptionHeaders(record.encryption), ...checksumHeaders(record) } };
}

/** Parses `Range: bytes=...` as S3 does: a single range; a syntactically invalid one is ignored. */
function parseRange(value: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  return end < start ? undefined : { start, end };
}

/** If-Match / If-None-Match / If-(Un)Modified-Since, with S3's precedence (RFC 7232). */
function preconditions(call: S3Call, record: ObjectRecord): 'ok' | 'not-modified' {
  const etagMatches = (list: string) => list.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '').replace(/"/g, '') === record.etag);
  const modified = Math.floor(Date.parse(record.lastModified) / 1000) * 1000;
  const ifMatch = header(call.headers, 'if-match');
  const ifNoneMatch = header(call.headers, 'if-none-match');
  const ifUnmodified = header(call.headers, 'if-unmodified-since');
  const ifModified = header(call.headers, 'if-modified-since');
  const failed = (condition: string) => new AwsError('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold', { Condition: condition });
  if (ifMatch !== undefined && !etagMatches(ifMatch)) throw failed('If-Match');
  if (ifMatch === undefined && ifUnmodified !== undefined && modified > Date.parse(ifUnmodified)) throw failed('If-Unmodified-Since');
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch)) return 'not-modified';
  if (ifNoneMatch === undefined && ifModified !== undefined && modified <= Date.parse(ifModified)) return 'not-modified';
  return 'ok';
}

// response-* query parameters override the stored headers of a GET (S3 allows them on signed requests).
const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-disposition': 'content-disposition',
  'response-cache-control': 'cache-control',
  'response-content-encoding': 'content-encoding',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
};

async function getObject(services: S3Services, call: S3Call, bucket: string): Promise<S3Answer> {
  const key = call.operation.key!;
  // HEAD needs no bytes; GET pins the file first, so an overwrite meanwhile cannot change them.
  const opened = call.operation.name === 'GetObject' ? await services.store.open(bucket, key) : undefined;
  const record = opened?.record ?? services.store.head(bucket, key);
  try {
    // Without s3:ListBucket, S3 does not reveal whether a key exists: a missing one is AccessDenied.
    if (!record) throw services.allows(call, 's3:ListBucket', `arn:aws:s3:::${bucket}`) ? awsErrors.noSuchKey(key) : awsErrors.accessDenied();
    // Reading the bytes of an SSE-KMS object needs kms:Decrypt; its metadata (HEAD) does not.
    if (opened) authorizeDecrypt(services, call, record.encryption);
    const answer = objectAnswer(call, record);
    const empty = answer.range !== undefined && answer.range.end < answer.range.start;
    if (opened && answer.status !== 304 && !empty) answer.stream = opened.handle.createReadStream(answer.range ?? {});
    else await opened?.handle.close();
    return answer;
  } catch (err) {
    await opened?.handle.close();
    throw err;
  }
}

/** Status and headers of a GET/HEAD of `record`: version, preconditions, part or range, checksum. */
function objectAnswer(call: S3Call, record: ObjectRecord): S3Answer & { range?: { start: number; end: number } } {
  const { query } = call.operation;
  const version = query.get('versionId');
  // Versioning is not emulated: only the current ("null") version exists.
  if (version !== null && version !== 'null') throw new AwsError('NoSuchVersion', 404, 'The specified version does not exist.', { Key: record.key, VersionId: version });
  if (preconditions(call, record) === 'not-modified') return { status: 304, headers: { etag: `"${record.etag}"`, 'last-modified': new Date(record.lastModified).toUTCString() } };

  const rangeHeader = header(call.headers, 'range');
  const partNumber = query.get('partNumber');
  if (rangeHeader !== undefined && partNumber !== null) throw awsErrors.invalidRequest('Cannot specify both Range header and partNumber query parameter');
  let range: { start: number; end: number } | undefined;
  const headers = objectHeaders(record);
  if (partNumber !== null) {
    const n = Number(partNumber);
    if (!Number.isInteger(n) || n < 1 || n > 10000) throw awsErrors.invalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', partNumber);
    const parts = record.parts ?? [{ size: record.size }];
    if (n > parts.length)
      throw new AwsError('InvalidPartNumber', 416, 'The requested partnumber is not satisfiable', { PartNumberRequested: partNumber, ActualPartCount: String(parts.length) });
    if (record.parts) {
      const start = parts.slice(0, n - 1).reduce((sum, p) => sum + p.size, 0);
      range = { start, end: start + parts[n - 1].size - 1 };
      headers['x-amz-mp-parts-count'] = String(parts.length);
    }
  } else if (rangeHeader !== undefined) {
    const parsed = parseRange(rangeHeader, record.size);
    if (parsed === 'unsatisfiable') {
      throw new AwsError('InvalidRange', 416, 'The requested range is not satisfiable', { RangeRequested: rangeHeader, ActualObjectSize: String(record.size) });
    }
    range = parsed;
  } else if (header(call.headers, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED') {
    // A checksum describes the whole object: S3 sends none with a part of it.
    Object.assign(headers, checksumHeaders(record));
  }
  if (call.operation.name === 'GetObject') {
    for (const [param, name] of Object.entries(RESPONSE_OVERRIDES)) {
      const value = query.get(param);
      if (value !== null) headers[name] = value;
    }
  }
  headers['content-length'] = String(range ? range.end - range.start + 1 : record.size);
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${record.size}`;
  return { status: range ? 206 : 200, headers, range };
}

/**
 * DeleteObjects: like S3, each key is authorised on its own and refusals are reported per key
 * inside a 200 response. S3 requires the body's integrity to be stated (Content-MD5 or a
 * flexible checksum), which the SDK and the CLI both send.
 */
async function deleteObjects(services: S3Services, call: S3Call, bucket: string): Promise<S3Answer> {
  if (!call.body.contentMd5 && !call.body.checksum) throw awsErrors.invalidRequest('Missing required header for this request: Content-Md5 OR x-amz-checksum-*');
  const xml = call.body.payload.toString('utf8');
  if (!/<Delete[\s>]/.test(xml)) throw awsErrors.malformedXml();
  const keys = xmlElements(xml, 'Object').map((object) => xmlElements(object, 'Key')[0]);
  if (keys.length === 0 || keys.length > 1000 || keys.some((k) => k === undefined)) throw awsErrors.malformedXml();
  const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(xml);
  const results: string[] = [];
  for (const key of keys.map(xmlUnescape)) {
    if (!services.allows(call, 's3:DeleteObject', `arn:aws:s3:::${bucket}/${key}`)) {
      results.push(`<Error>${el('Key', key)}<Code>AccessDenied</Code><Message>Access Denied</Message></Error>`);
      continue;
    }
    await services.store.delete(bucket, key);
    if (!quiet) results.push(`<Deleted>${el('Key', key)}</Deleted>`);
  }
  return { status: 200, headers: { 'content-type': 'application/xml' }, body: xmlDocument('DeleteResult', results.join('')) };
}
