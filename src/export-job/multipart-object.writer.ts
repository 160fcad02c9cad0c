import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ObjectEncryption } from '../aws/server-side-encryption';

/** S3's smallest part size for every part but the last. */
export const MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;
/** S3's largest part number. */
const MAX_PARTS = 10_000;

/**
 * Where the object goes and the headers it is stored with, server-side encryption included: they
 * go with the PutObject or the CreateMultipartUpload (S3 applies an upload's settings to its parts).
 */
export interface ObjectTarget extends ObjectEncryption {
  Bucket: string;
  Key: string;
  ContentType?: string;
  ContentEncoding?: string;
  Metadata?: Record<string, string>;
}

export interface ObjectWriteResult {
  /** 0 when the object went up as a single PutObject. */
  parts: number;
  bytes: number;
  /** SHA-256 (hex) of the bytes sent, in order: of the object as S3 stores it. */
  sha256: string;
}

/**
 * Part-sized buffers kept for reuse across uploads. Every upload needs `concurrency + 1` of them
 * (the parts in flight and the one filling); allocating them per upload, as lib-storage does
 * (it concatenates each part from the incoming chunks), turns every part into a large piece of
 * garbage that V8 frees only at its next full collection, so the process's memory climbed with
 * the number of parts exported before settling. Kept buffers make it a fixed amount instead.
 */
export class PartBufferPool {
  private readonly idle: Buffer[] = [];

  /** `maxIdle`: buffers kept between uploads; more are allocated when uploads overlap, then dropped. */
  constructor(
    readonly partSizeBytes: number,
    private readonly maxIdle: number,
  ) {
    if (!Number.isInteger(partSizeBytes) || partSizeBytes < MIN_PART_SIZE_BYTES) {
      throw new Error(`Part size must be an integer of at least ${MIN_PART_SIZE_BYTES} bytes (S3's minimum), got ${partSizeBytes}`);
    }
  }

  acquire(): Buffer {
    // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared pool; every byte sent is written first.
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.partSizeBytes);
  }

  release(buffer: Buffer): void {
    if (this.idle.length < this.maxIdle) this.idle.push(buffer);
  }
}

/**
 * Streams `source` into one S3 object: a single PutObject when everything fits in one part, else a
 * multipart upload with up to `concurrency` parts in flight, each sent from a pooled buffer that
 * is filled again only after its request has finished (retries by the SDK resend the same bytes).
 * Parts carry CRC32 checksums, which S3 verifies on arrival and records for the whole object.
 * The object's SHA-256 is computed on the way, chunk by chunk, for its digest (nothing is buffered
 * beyond the parts themselves).
 *
 * On failure the multipart upload is aborted, best effort: the original error is what is thrown
 * (an abort refused for want of s3:AbortMultipartUpload is attached as its `cause`), and the
 * object's next attempt starts a new upload under the same key.
 */
export async function writeObjectInParts(
  s3: S3Client,
  target: ObjectTarget,
  source: AsyncIterable<Uint8Array>,
  options: { pool: PartBufferPool; concurrency: number },
): Promise<ObjectWriteResult> {
  const { pool, concurrency } = options;
  // Below 1 the wait for a free slot below would never end.
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`Part upload concurrency must be an integer of at least 1, got ${concurrency}`);
  const partSize = pool.partSizeBytes;
  /** Every buffer this upload took from the pool; `spare` holds those of them whose part is done. */
  const held: Buffer[] = [];
  const spare: Buffer[] = [];
  const takeBuffer = () => {
    const reused = spare.pop();
    if (reused) return reused;
    const fresh = pool.acquire();
    held.push(fresh);
    return fresh;
  };

  let uploadId: string | undefined;
  const completed: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let partFailure: { error: unknown } | undefined;
  let partNumber = 0;
  let bytes = 0;
  const hash = createHash('sha256');

  const sendPart = (body: Buffer, buffer: Buffer) => {
    partNumber += 1;
    if (partNumber > MAX_PARTS) throw new Error(`Object ${target.Key} would need more than ${MAX_PARTS} parts of ${partSize} bytes`);
    const number = partNumber;
    const sent = s3
      .send(new UploadPartCommand({ Bucket: target.Bucket, Key: target.Key, UploadId: uploadId, PartNumber: number, Body: body, ChecksumAlgorithm: ChecksumAlgorithm.CRC32 }))
      .then((result) => {
        if (!result.ETag) throw new Error(`UploadPart ${number} of ${target.Key} returned no ETag`);
        completed.push({ PartNumber: number, ETag: result.ETag, ChecksumCRC32: result.ChecksumCRC32 });
      })
      // Recorded, not thrown here: the loop below notices it at its next step and stops reading.
      .catch((error: unknown) => {
        partFailure ??= { error };
      })
      .finally(() => {
        spare.push(buffer);
        inFlight.delete(sent);
      });
    inFlight.add(sent);
  };
  const throwIfStopped = () => {
    if (partFailure) throw partFailure.error;
  };

  let buffer = takeBuffer();
  let used = 0;
  try {
    for await (const bytesOrBuffer of source) {
      throwIfStopped();
      // Encoders may yield plain Uint8Arrays (docs of DeliveryFormatEncoder); a view, not a copy.
      const chunk = Buffer.isBuffer(bytesOrBuffer) ? bytesOrBuffer : Buffer.from(bytesOrBuffer.buffer, bytesOrBuffer.byteOffset, bytesOrBuffer.byteLength);
      hash.update(chunk);
      let offset = 0;
      while (offset < chunk.length) {
        if (used === partSize) {
          // A full buffer with more data behind it: it is a part of a multipart upload.
          if (uploadId === undefined) {
            const created = await s3.send(new CreateMultipartUploadCommand({ ...target, ChecksumAlgorithm: ChecksumAlgorithm.CRC32 }));
            if (!created.UploadId) throw new Error(`CreateMultipartUpload for ${target.Key} returned no UploadId`);
            uploadId = created.UploadId;
          }
          while (inFlight.size >= concurrency) await Promise.race(inFlight);
          throwIfStopped();
          sendPart(buffer, buffer);
          buffer = takeBuffer();
          used = 0;
        }
        const copied = chunk.copy(buffer, used, offset);
        used += copied;
        offset += copied;
        bytes += copied;
      }
    }
    throwIfStopped();

    if (uploadId === undefined) {
      await s3.send(new PutObjectCommand({ ...target, Body: buffer.subarray(0, used) }));
      return { parts: 0, bytes, sha256: hash.digest('hex') };
    }
    sendPart(buffer.subarray(0, used), buffer);
    await Promise.all(inFlight);
    throwIfStopped();
    completed.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: target.Bucket, Key: target.Key, UploadId: uploadId, MultipartUpload: { Parts: completed } }));
    return { parts: completed.length, bytes, sha256: hash.digest('hex') };
  } catch (error) {
    // Parts still in flight read from pooled buffers: wait for them before the buffers go back.
    await Promise.all(inFlight);
    if (uploadId !== undefined) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: target.Bucket, Key: target.Key, UploadId: uploadId })).catch((abortError: unknown) => {
        if (error instanceof Error && error.cause === undefined) error.cause = abortError;
      });
    }
    throw error;
  } finally {
    // Both paths above have waited for every part in flight: no request still reads these.
    for (const heldBuffer of held) pool.release(heldBuffer);
  }
}
