import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * The flexible checksums S3 accepts (`x-amz-checksum-<algorithm>`, as a header or as an
 * aws-chunked trailer). S3 recomputes them over the decoded payload and rejects a
 * mismatch with `BadDigest`, so the sandbox does the same: a client bug in checksum
 * handling must fail here, not first in production.
 */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** Raw digest length per algorithm: a checksum value of another length is malformed, not wrong. */
const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { crc32: 4, crc32c: 4, crc64nvme: 8, sha1: 20, sha256: 32 };

/** An incremental checksum: multipart uploads feed the parts in one after the other. */
export interface Checksummer {
  update(data: Buffer): void;
  digest(): Buffer;
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) is written out here because neither
// Node nor this project's dependencies offer it: zlib only has CRC-32, and the AWS SDK's own
// implementation lives in an internal package (@aws-sdk/checksums) that is not ours to import;
// @aws-crypto/crc32c is not installed. Table-driven, one byte at a time: fast enough for test
// payloads. Checked against the standard check value ("123456789" → 0xE3069283) in the tests.
// Tables are built lazily: most runs only ever see CRC32 (the SDK default).
let crc32cTable: Uint32Array | undefined;
function crc32cUpdate(crc: number, data: Buffer): number {
  if (!crc32cTable) {
    crc32cTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crc32cTable[i] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = crc32cTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// CRC-64/NVME (reflected, poly 0x9a6c9329ac4bc9b5). Kept as two 32-bit halves so that
// multi-megabyte bodies do not go through BigInt arithmetic per byte.
let crc64Lo: Uint32Array | undefined;
let crc64Hi: Uint32Array | undefined;
function crc64nvme(): Checksummer {
  if (!crc64Lo || !crc64Hi) {
    crc64Lo = new Uint32Array(256);
    crc64Hi = new Uint32Array(256);
    const poly = 0x9a6c9329ac4bc9b5n;
    for (let i = 0; i < 256; i++) {
      let c = BigInt(i);
      for (let k = 0; k < 8; k++) c = c & 1n ? poly ^ (c >> 1n) : c >> 1n;
      crc64Lo[i] = Number(c & 0xffffffffn);
      crc64Hi[i] = Number(c >> 32n);
    }
  }
  const lo32 = crc64Lo;
  const hi32 = crc64Hi;
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  return {
    update(data) {
      for (let i = 0; i < data.length; i++) {
        const idx = (lo ^ data[i]) & 0xff;
        lo = (lo32[idx] ^ ((lo >>> 8) | ((hi & 0xff) << 24))) >>> 0;
        hi = (hi32[idx] ^ (hi >>> 8)) >>> 0;
      }
    },
    digest() {
      const out = Buffer.alloc(8);
      out.writeUInt32BE((hi ^ 0xffffffff) >>> 0, 0);
      out.writeUInt32BE((lo ^ 0xffffffff) >>> 0, 4);
      return out;
    },
  };
}

function fromHash(hash: Hash): Checksummer {
  return { update: (data) => void hash.update(data), digest: () => hash.digest() };
}

/** A fresh incremental checksum of `algorithm`. */
export function checksummer(algorithm: ChecksumAlgorithm): Checksummer {
  switch (algorithm) {
    case 'crc32': {
      let crc = 0;
      return { update: (data) => void (crc = crc32(data, crc)), digest: () => uint32(crc) };
    }
    case 'crc32c': {
      let crc = 0;
      return { update: (data) => void (crc = crc32cUpdate(crc, data)), digest: () => uint32(crc) };
    }
    case 'crc64nvme':
      return crc64nvme();
    case 'sha1':
      return fromHash(createHash('sha1'));
    case 'sha256':
      return fromHash(createHash('sha256'));
  }
}

/** Computes the base64 checksum S3 would compute for `data`. */
export function computeChecksum(algorithm: ChecksumAlgorithm, data: Buffer): string {
  const sum = checksummer(algorithm);
  sum.update(data);
  return sum.digest().toString('base64');
}

/**
 * S3's checksum of a COMPOSITE multipart object: the checksum of the concatenated binary part
 * checksums, then `-<number of parts>` (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
 */
export function compositeChecksum(algorithm: ChecksumAlgorithm, partChecksums: readonly string[]): string {
  const sum = checksummer(algorithm);
  for (const part of partChecksums) sum.update(Buffer.from(part, 'base64'));
  return `${sum.digest().toString('base64')}-${partChecksums.length}`;
}

/** True when `value` is base64 of a digest of the algorithm's length (S3 answers InvalidRequest otherwise). */
export function isWellFormedChecksum(algorithm: ChecksumAlgorithm, value: string): boolean {
  const raw = Buffer.from(value, 'base64');
  return raw.length === DIGEST_BYTES[algorithm] && raw.toString('base64') === value;
}

/** Maps a lower-case header name to its algorithm, if it is a checksum header. */
export function checksumAlgorithmOf(headerName: string): ChecksumAlgorithm | undefined {
  const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(headerName.toLowerCase());
  return m && (CHECKSUM_ALGORITHMS as readonly string[]).includes(m[1]) ? (m[1] as ChecksumAlgorithm) : undefined;
}

/** Parses an algorithm name as S3 takes it (`CRC32`, `crc32c`, ...). */
export function parseChecksumAlgorithm(name: string | undefined): ChecksumAlgorithm | undefined {
  const lower = name?.toLowerCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(lower ?? '') ? (lower as ChecksumAlgorithm) : undefined;
}

/** S3's name for an algorithm in error messages and XML (`CRC32`, `SHA256`, ...). */
export function checksumDisplayName(algorithm: ChecksumAlgorithm): string {
  return algorithm.toUpperCase();
}

/** The XML element / SDK field suffix: `ChecksumCRC32C`, `ChecksumCRC64NVME`, `ChecksumSHA256`. */
export function checksumElement(algorithm: ChecksumAlgorithm): string {
  return `Checksum${algorithm.toUpperCase()}`;
}
