import { createHash, randomBytes } from 'node:crypto';
import { type ChecksumAlgorithm, checksumElement, checksummer, compositeChecksum, parseChecksumAlgorithm } from './checksum.util';
import type { ObjectAttributes, ObjectStore, StoredChecksum } from './object.store';
import { header } from './request.authenticator';
import type { S3Answer, S3Call, S3Services } from './s3.handler';
import { authorizeDecrypt, encryptionForWrite, singleRequestEtag } from './s3.encryption';
import { attributesFromRequest, encryptionHeaders } from './s3.object.handler';
import { ownerXml } from './s3.list.handler';
import { AwsError, awsErrors } from './sandbox.errors';
import { el, urlEncodeListValue, xmlDocument, xmlElements, xmlText } from './s3.xml';

/**
 * Multipart uploads as S3 runs them
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html): parts of any size are
 * accepted, and CompleteMultipartUpload then checks the list it is given — ascending part
 * numbers (InvalidPartOrder), parts that exist with the ETag and checksum stated (InvalidPart),
 * every part but the last at least 5 MiB (EntityTooSmall) — before the object becomes visible
 * with S3's multipart ETag, the MD5 of the concatenated binary part MD5s suffixed `-<parts>`.
 *
 * Upload state lives in memory, the parts' bytes in files; uploads in progress do not survive a
 * restart of the sandbox (objects do).
 */

/** S3's minimum size of every part but the last. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

interface PartRecord {
  partNumber: number;
  size: number;
  /** MD5 hex, without quotes. */
  etag: string;
  checksum?: string;
  lastModified: string;
  file: string;
}

interface Upload {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: string;
  initiatorArn: string;
  attributes: Omit<ObjectAttributes, 'checksum'>;
  checksum?: { algorithm: ChecksumAlgorithm; type: StoredChecksum['type'] };
  parts: Map<number, PartRecord>;
}

const INVALID_PART_MESSAGE =
  "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";

/** S3's rules for which checksum type goes with which algorithm (CreateMultipartUpload). */
function checksumMode(call: S3Call): Upload['checksum'] {
  const algorithmHeader = header(call.headers, 'x-amz-checksum-algorithm');
  const typeHeader = header(call.headers, 'x-amz-checksum-type')?.toUpperCase();
  const algorithm = parseChecksumAlgorithm(algorithmHeader);
  if (algorithmHeader !== undefined && !algorithm) {
    throw awsErrors.invalidRequest('Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]');
  }
  if (!algorithm) {
    if (typeHeader !== undefined) throw awsErrors.invalidRequest('The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
    return undefined;
  }
  if (typeHeader !== undefined && typeHeader !== 'COMPOSITE' && typeHeader !== 'FULL_OBJECT')
    throw awsErrors.invalidArgument('Invalid checksum type', 'x-amz-checksum-type', typeHeader);
  const type = typeHeader ?? (algorithm === 'crc64nvme' ? 'FULL_OBJECT' : 'COMPOSITE');
  if (type === 'COMPOSITE' && algorithm === 'crc64nvme') throw awsErrors.invalidRequest('The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.');
  if (type === 'FULL_OBJECT' && algorithm.startsWith('sha'))
    throw awsErrors.invalidRequest(`The FULL_OBJECT checksum type cannot be used with the ${algorithm} checksum algorithm.`);
  return { algorithm, type };
}

function partNumberOf(call: S3Call): number {
  const text = call.operation.query.get('partNumber') ?? '';
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 10000) throw awsErrors.invalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', text);
  return n;
}

interface CompletedPart {
  partNumber: number;
  etag: string;
  checksums: Map<string, string>;
}

/** The parts a CompleteMultipartUpload body lists, in the order given. */
function completedParts(xml: string): CompletedPart[] {
  if (!/<CompleteMultipartUpload[\s>]/.test(xml)) throw awsErrors.malformedXml();
  return xmlElements(xml, 'Part').map((part) => {
    const number = xmlText(part, 'PartNumber');
    const etag = xmlText(part, 'ETag');
    if (!number || !/^\d+$/.test(number) || etag === undefined) throw awsErrors.malformedXml();
    const checksums = new Map<string, string>();
    for (const m of part.matchAll(/<(Checksum[A-Z0-9]+)>([^<]*)<\/\1>/g)) checksums.set(m[1], m[2].trim());
    return { partNumber: Number(number), etag: etag.replace(/^"|"$/g, ''), checksums };
  });
}

export class MultipartUploads {
  private readonly uploads = new Map<string, Upload>();

  constructor(private readonly store: ObjectStore) {}

  async handle(services: S3Services, call: S3Call, bucket: string): Promise<S3Answer> {
    if (call.operation.name === 'CreateMultipartUpload') return this.create(services, call, bucket);
    if (call.operation.name === 'ListMultipartUploads') return this.list(services, call, bucket);
    const uploadId = call.operation.query.get('uploadId') ?? '';
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== call.operation.key) throw awsErrors.noSuchUpload(uploadId);
    // S3 reads the upload's data key back for every part and to assemble the object.
    if (call.operation.name === 'UploadPart' || call.operation.name === 'CompleteMultipartUpload') authorizeDecrypt(services, call, upload.attributes.encryption);
    switch (call.operation.name) {
      case 'UploadPart':
        return this.uploadPart(call, upload);
      case 'CompleteMultipartUpload':
        return this.complete(call, upload);
      case 'AbortMultipartUpload':
        this.uploads.delete(upload.uploadId);
        await this.store.removeUpload(upload.uploadId);
        return { status: 204 };
      case 'ListParts':
        return this.listParts(services, call, upload);
      default:
        throw awsErrors.notImplemented(call.operation.name);
    }
  }

  private create(services: S3Services, call: S3Call, bucket: string): S3Answer {
    const checksum = checksumMode(call);
    const upload: Upload = {
      // Hex, so an id never starts with '-' (the AWS CLI would read it as an option).
      uploadId: randomBytes(24).toString('hex'),
      bucket,
      key: call.operation.key!,
      initiated: new Date().toISOString(),
      initiatorArn: call.authn.principalArn,
      // Set once, here: every part and the completed object are encrypted the same way.
      attributes: { ...attributesFromRequest(call.headers), encryption: encryptionForWrite(services, call, bucket) },
      checksum,
      parts: new Map(),
    };
    this.uploads.set(upload.uploadId, upload);
    const headers: Record<string, string> = { 'content-type': 'application/xml', ...encryptionHeaders(upload.attributes.encryption) };
    if (upload.checksum) {
      headers['x-amz-checksum-algorithm'] = upload.checksum.algorithm.toUpperCase();
      headers['x-amz-checksum-type'] = upload.checksum.type;
    }
    const body = xmlDocument('InitiateMultipartUploadResult', `${el('Bucket', bucket)}${el('Key', upload.key)}${el('UploadId', upload.uploadId)}`);
    return { status: 200, headers, body };
  }

  private async uploadPart(call: S3Call, upload: Upload): Promise<S3Answer> {
    const partNumber = partNumberOf(call);
    const { payload, checksum } = call.body;
    // An upload created with a checksum algorithm takes parts carrying that checksum only.
    if (upload.checksum && checksum?.algorithm !== upload.checksum.algorithm) {
      throw awsErrors.invalidRequest(
        `Checksum Type mismatch occurred, expected checksum Type: ${upload.checksum.algorithm}, actual checksum Type: ${checksum?.algorithm ?? 'null'}`,
      );
    }
    const file = await this.store.writePart(upload.uploadId, partNumber, payload);
    if (this.uploads.get(upload.uploadId) !== upload) {
      // Aborted or completed while this part was being written.
      await this.store.removeFile(file);
      throw awsErrors.noSuchUpload(upload.uploadId);
    }
    const etag = singleRequestEtag(payload, upload.attributes.encryption);
    const part: PartRecord = { partNumber, size: payload.length, etag, checksum: checksum?.value, lastModified: new Date().toISOString(), file };
    const previous = upload.parts.get(partNumber);
    upload.parts.set(partNumber, part);
    if (previous) await this.store.removeFile(previous.file);
    const headers: Record<string, string> = { etag: `"${part.etag}"`, ...encryptionHeaders(upload.attributes.encryption) };
    if (checksum) headers[`x-amz-checksum-${checksum.algorithm}`] = checksum.value;
    return { status: 200, headers };
  }

  private async complete(call: S3Call, upload: Upload): Promise<S3Answer> {
    const listed = completedParts(call.body.payload.toString('utf8'));
    if (listed.length === 0) throw awsErrors.invalidRequest('You must specify at least one part');
    for (let i = 1; i < listed.length; i++) {
      if (listed[i].partNumber <= listed[i - 1].partNumber) {
        throw new AwsError('InvalidPartOrder', 400, 'The list of parts was not in ascending order. Parts must be ordered by part number.', { UploadId: upload.uploadId });
      }
    }
    const mode = header(call.headers, 'x-amz-checksum-type')?.toUpperCase();
    if (mode !== undefined && mode !== upload.checksum?.type) {
      throw awsErrors.invalidRequest(`The upload was created using the ${upload.checksum?.type ?? 'null'} checksum mode. The complete request must use the same checksum mode.`);
    }
    const element = upload.checksum && checksumElement(upload.checksum.algorithm);
    const parts = listed.map((given, index) => {
      const part = upload.parts.get(given.partNumber);
      const invalidPart = new AwsError('InvalidPart', 400, INVALID_PART_MESSAGE, { UploadId: upload.uploadId, PartNumber: String(given.partNumber), ETag: given.etag });
      if (!part || part.etag !== given.etag) throw invalidPart;
      if (!element) {
        // Checksums stated for an upload that was created without an algorithm match nothing S3 kept.
        if (given.checksums.size > 0) throw invalidPart;
      } else {
        const stated = given.checksums.get(element);
        if (stated === undefined) {
          throw awsErrors.invalidRequest(
            `The upload was created using a ${upload.checksum!.algorithm} checksum. The complete request must include the checksum for each part. It was missing for part ${given.partNumber} in the request.`,
          );
        }
        if (stated !== part.checksum) throw invalidPart;
      }
      if (index < listed.length - 1 && part.size < MIN_PART_BYTES) {
        throw new AwsError('EntityTooSmall', 400, 'Your proposed upload is smaller than the minimum allowed size', {
          ProposedSize: String(part.size),
          MinSizeAllowed: String(MIN_PART_BYTES),
          PartNumber: String(given.partNumber),
          ETag: part.etag,
        });
      }
      return part;
    });

    const size = parts.reduce((sum, p) => sum + p.size, 0);
    const declaredSize = header(call.headers, 'x-amz-mp-object-size');
    if (declaredSize !== undefined && Number(declaredSize) !== size) {
      throw awsErrors.invalidRequest(`The provided 'x-amz-mp-object-size' header value ${declaredSize} does not match what was computed: ${size}`);
    }
    const etagHash = createHash('md5');
    for (const p of parts) etagHash.update(Buffer.from(p.etag, 'hex'));
    const fullObject = upload.checksum?.type === 'FULL_OBJECT' ? checksummer(upload.checksum.algorithm) : undefined;

    // A composite checksum needs only the parts' checksums; a full-object one is known once every
    // byte went through onChunk, and is filled in (and checked against one the client states)
    // just before the object becomes visible.
    const checksum = upload.checksum && {
      ...upload.checksum,
      value: fullObject
        ? ''
        : compositeChecksum(
            upload.checksum.algorithm,
            parts.map((p) => p.checksum!),
          ),
    };
    const record = await this.store.put(
      upload.bucket,
      upload.key,
      {
        sources: parts.map((p) => p.file),
        onChunk: fullObject && ((chunk) => fullObject.update(chunk)),
        beforeCommit: () => {
          if (!fullObject || !checksum) return;
          checksum.value = fullObject.digest().toString('base64');
          const stated = header(call.headers, `x-amz-checksum-${checksum.algorithm}`);
          if (stated !== undefined && stated !== checksum.value) {
            throw new AwsError('BadDigest', 400, `The ${checksum.algorithm} you specified did not match the calculated checksum.`);
          }
        },
      },
      { ...upload.attributes, size, etag: `${etagHash.digest('hex')}-${parts.length}`, checksum, parts: parts.map((p) => ({ size: p.size, checksum: p.checksum })) },
    );
    this.uploads.delete(upload.uploadId);
    await this.store.removeUpload(upload.uploadId);

    let result = `${el('Location', `/${upload.bucket}/${upload.key}`)}${el('Bucket', upload.bucket)}${el('Key', upload.key)}${el('ETag', `"${record.etag}"`)}`;
    if (record.checksum) result += `${el(checksumElement(record.checksum.algorithm), record.checksum.value)}${el('ChecksumType', record.checksum.type)}`;
    return { status: 200, headers: { 'content-type': 'application/xml', ...encryptionHeaders(record.encryption) }, body: xmlDocument('CompleteMultipartUploadResult', result) };
  }

  private listParts(services: S3Services, call: S3Call, upload: Upload): S3Answer {
    const q = call.operation.query;
    const maxParts = Math.min(Number(q.get('max-parts') ?? 1000) || 1000, 1000);
    const marker = Number(q.get('part-number-marker') ?? 0) || 0;
    const all = [...upload.parts.values()].sort((a, b) => a.partNumber - b.partNumber).filter((p) => p.partNumber > marker);
    const page = all.slice(0, maxParts);
    const truncated = all.length > page.length;
    const element = upload.checksum && checksumElement(upload.checksum.algorithm);
    const parts = page
      .map(
        (p) =>
          `<Part>${el('PartNumber', p.partNumber)}${el('LastModified', p.lastModified)}${el('ETag', `"${p.etag}"`)}${el('Size', p.size)}` +
          `${element && p.checksum ? el(element, p.checksum) : ''}</Part>`,
      )
      .join('');
    const initiator = `<Initiator>${el('ID', upload.initiatorArn)}${el('DisplayName', 'sandbox')}</Initiator>`;
    let body = `${el('Bucket', upload.bucket)}${el('Key', upload.key)}${el('UploadId', upload.uploadId)}${el('PartNumberMarker', marker)}`;
    if (truncated) body += el('NextPartNumberMarker', page[page.length - 1].partNumber);
    body += `${el('MaxParts', maxParts)}${el('IsTruncated', truncated)}${parts}${initiator}${ownerXml(services.iam.accountId)}<StorageClass>STANDARD</StorageClass>`;
    if (upload.checksum) body += `${el('ChecksumAlgorithm', upload.checksum.algorithm.toUpperCase())}${el('ChecksumType', upload.checksum.type)}`;
    return { status: 200, headers: { 'content-type': 'application/xml' }, body: xmlDocument('ListPartsResult', body) };
  }

  /** ListMultipartUploads: uploads in progress under a prefix, by key then initiation (no paging past 1,000). */
  private list(services: S3Services, call: S3Call, bucket: string): S3Answer {
    const q = call.operation.query;
    const prefix = q.get('prefix') ?? '';
    const enc = (v: string) => (q.get('encoding-type') === 'url' ? urlEncodeListValue(v) : v);
    const maxUploads = Math.min(Number(q.get('max-uploads') ?? 1000) || 1000, 1000);
    const all = [...this.uploads.values()]
      .filter((u) => u.bucket === bucket && u.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.localeCompare(b.initiated)));
    const page = all.slice(0, maxUploads);
    const uploads = page
      .map(
        (u) =>
          `<Upload>${el('Key', enc(u.key))}${el('UploadId', u.uploadId)}<Initiator>${el('ID', u.initiatorArn)}${el('DisplayName', 'sandbox')}</Initiator>` +
          `${ownerXml(services.iam.accountId)}<StorageClass>STANDARD</StorageClass>${el('Initiated', u.initiated)}</Upload>`,
      )
      .join('');
    const body = `${el('Bucket', bucket)}<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>${el('Prefix', enc(prefix))}${el('MaxUploads', maxUploads)}${el('IsTruncated', all.length > page.length)}${uploads}`;
    return { status: 200, headers: { 'content-type': 'application/xml' }, body: xmlDocument('ListMultipartUploadsResult', body) };
  }
}
