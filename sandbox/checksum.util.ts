import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * The flexible checksums S3 accepts (`x-amz-checksum-<algorithm>`, as a header or as an
 * aws-chunked trailer). S3 recomputes them over the decoded payload and rejects a
 * mismatch with `BadDigest`, so the sandbox does the same: a client bug in checksum
 * handling must fail here, not first in production.
 */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

function uint32Base64(value: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out.toString('base64');
}

// Tables are built lazily: most runs only ever see CRC32 (the SDK default).
let crc32cTable: Uint32Array | undefined;
function crc32c(data: Buffer): number {
  if (!crc32cTable) {
    crc32cTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crc32cTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crc32cTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// CRC-64/NVME (reflected, poly 0x9a6c9329ac4bc9b5). Kept as two 32-bit halves so that
// multi-megabyte bodies do not go through BigInt arithmetic per byte.
let crc64Lo: Uint32Array | undefined;
let crc64Hi: Uint32Array | undefined;
function crc64nvme(data: Buffer): Buffer {
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
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const idx = (lo ^ data[i]) & 0xff;
    lo = (crc64Lo[idx] ^ ((lo >>> 8) | ((hi & 0xff) << 24))) >>> 0;
    hi = (crc64Hi[idx] ^ (hi >>> 8)) >>> 0;
  }
  const out = Buffer.alloc(8);
  out.writeUInt32BE((hi ^ 0xffffffff) >>> 0, 0);
  out.writeUInt32BE((lo ^ 0xffffffff) >>> 0, 4);
  return out;
}

/** Computes the base64 checksum S3 would compute for `data`. */
export function computeChecksum(algorithm: ChecksumAlgorithm, data: Buffer): string {
  switch (algorithm) {
    case 'crc32':
      return uint32Base64(crc32(data));
    case 'crc32c':
      return uint32Base64(crc32c(data));
    case 'crc64nvme':
      return crc64nvme(data).toString('base64');
    case 'sha1':
      return createHash('sha1').update(data).digest('base64');
    case 'sha256':
      return createHash('sha256').update(data).digest('base64');
  }
}

/** Maps a lower-case header name to its algorithm, if it is a checksum header. */
export function checksumAlgorithmOf(headerName: string): ChecksumAlgorithm | undefined {
  const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(headerName.toLowerCase());
  return m && (CHECKSUM_ALGORITHMS as readonly string[]).includes(m[1]) ? (m[1] as ChecksumAlgorithm) : undefined;
}

/** S3's name for an algorithm in error messages (`CRC32`, `SHA256`, ...). */
export function checksumDisplayName(algorithm: ChecksumAlgorithm): string {
  return algorithm.toUpperCase();
}
