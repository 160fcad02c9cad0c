import type { S3Answer, S3Call, S3Services } from './s3.handler';
import { awsErrors } from './sandbox.errors';
import { el, urlEncodeListValue, xmlDocument } from './s3.xml';
import { checksumDisplayName } from './checksum.util';

/**
 * ListObjectsV2, ListObjects (v1) and ListBuckets, as S3 answers them
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html): keys in UTF-8 order,
 * common prefixes at any depth, max-keys counting keys and prefixes alike, and paging by
 * continuation token (v2) or marker (v1).
 */

/** S3 caps a page at 1,000 entries whatever max-keys asks for. */
const MAX_KEYS = 1000;

/** The owner S3 reports: the account, as a canonical-id-like hex string. */
export function ownerXml(accountId: string): string {
  return `<Owner>${el('ID', Buffer.from(accountId).toString('hex').padEnd(64, '0'))}${el('DisplayName', 'sandbox')}</Owner>`;
}

export function listBuckets(services: S3Services): S3Answer {
  const buckets = services.store
    .listBuckets()
    .map((b) => `<Bucket>${el('Name', b.name)}${el('CreationDate', b.createdAt)}${el('BucketRegion', services.region)}</Bucket>`)
    .join('');
  return {
    status: 200,
    headers: { 'content-type': 'application/xml' },
    body: xmlDocument('ListAllMyBucketsResult', `${ownerXml(services.iam.accountId)}<Buckets>${buckets}</Buckets>`),
  };
}

function maxKeysOf(value: string | null): number {
  if (value === null) return MAX_KEYS;
  if (!/^\d+$/.test(value)) throw awsErrors.invalidArgument('Provided max-keys not an integer or within integer range', 'max-keys', value);
  return Math.min(Number(value), MAX_KEYS);
}

/**
 * V2 continuation tokens are opaque to clients; here, base64 of the last key or common prefix
 * returned. A token that does not decode back to itself was not issued by the sandbox.
 */
function decodeToken(token: string): string {
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  if (token === '' || Buffer.from(decoded, 'utf8').toString('base64') !== token) {
    throw awsErrors.invalidArgument('The continuation token provided is incorrect', 'continuation-token', token);
  }
  return decoded;
}

export function listObjects(services: S3Services, call: S3Call, bucket: string): S3Answer {
  const q = call.operation.query;
  const v2 = call.operation.name === 'ListObjectsV2';
  const encodingType = q.get('encoding-type');
  if (encodingType !== null && encodingType !== 'url') throw awsErrors.invalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', encodingType);
  const enc = (value: string) => (encodingType === 'url' ? urlEncodeListValue(value) : value);
  const prefix = q.get('prefix') ?? '';
  // An empty delimiter is no delimiter (S3 echoes it but rolls nothing up).
  const delimiter = q.get('delimiter') || undefined;
  const maxKeys = maxKeysOf(q.get('max-keys'));
  const token = v2 ? q.get('continuation-token') : null;
  const startAfter = v2 ? q.get('start-after') : null;
  const marker = v2 ? null : q.get('marker');
  // A continuation token wins over start-after, as in S3.
  const after = token !== null ? decodeToken(token) : ((v2 ? startAfter : marker) ?? undefined);

  const page = services.store.list(bucket, { prefix, delimiter, after: after || undefined, maxKeys });
  const fetchOwner = !v2 || q.get('fetch-owner') === 'true';
  const contents = page.contents
    .map(
      (o) =>
        `<Contents>${el('Key', enc(o.key))}${el('LastModified', o.lastModified)}${el('ETag', `"${o.etag}"`)}` +
        `${o.checksum ? el('ChecksumAlgorithm', checksumDisplayName(o.checksum.algorithm)) + el('ChecksumType', o.checksum.type) : ''}` +
        `${el('Size', o.size)}${fetchOwner ? ownerXml(services.iam.accountId) : ''}<StorageClass>STANDARD</StorageClass></Contents>`,
    )
    .join('');
  const prefixes = page.commonPrefixes.map((p) => `<CommonPrefixes>${el('Prefix', enc(p))}</CommonPrefixes>`).join('');

  let head = `${el('Name', bucket)}${el('Prefix', enc(prefix))}`;
  if (v2) {
    if (token !== null) head += el('ContinuationToken', token);
    if (startAfter !== null) head += el('StartAfter', enc(startAfter));
    head += el('KeyCount', page.contents.length + page.commonPrefixes.length);
  } else {
    head += el('Marker', enc(marker ?? ''));
    // S3 returns NextMarker only with a delimiter; without one, clients continue from the last key.
    if (page.truncated && delimiter && page.last !== undefined) head += el('NextMarker', enc(page.last));
  }
  head += `${el('MaxKeys', maxKeys)}${el('Delimiter', delimiter === undefined ? undefined : enc(delimiter))}`;
  if (encodingType) head += el('EncodingType', encodingType);
  head += el('IsTruncated', page.truncated);
  if (v2 && page.truncated && page.last !== undefined) head += el('NextContinuationToken', Buffer.from(page.last, 'utf8').toString('base64'));
  return { status: 200, headers: { 'content-type': 'application/xml' }, body: xmlDocument('ListBucketResult', head + contents + prefixes) };
}
