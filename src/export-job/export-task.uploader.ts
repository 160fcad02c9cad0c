import { createGzip, type Gzip } from 'node:zlib';
import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import type { ObjectEncryption } from '../aws/server-side-encryption';
import type { DeliveredObject, ExportJobRepository, PlannedTask } from './export-job.repository';
import { MIN_PART_SIZE_BYTES, PartBufferPool, writeObjectInParts } from './multipart-object.writer';

export interface UploaderOptions {
  /** Multipart part size, at least 5 MiB (S3's minimum). */
  partSizeBytes: number;
  /** Parts uploaded in parallel; a task holds this many part buffers plus the one filling. */
  queueSize: number;
  /** zlib level; 6 is gzip's default. */
  gzipLevel: number;
  /** EXPORT_TASK_CONCURRENCY: tasks uploading at once in this process, each with part buffers of its own. */
  concurrentTasks?: number;
}

/** What one task put into S3. */
export interface UploadedObject {
  eventCount: number;
  /** The object's size as uploaded (gzip-compressed). */
  bytes: number;
}

export const DEFAULT_UPLOADER_OPTIONS: UploaderOptions = { partSizeBytes: MIN_PART_SIZE_BYTES, queueSize: 2, gzipLevel: 6 };

/**
 * Lines are handed to gzip in chunks of about this size (one zlib call per line would dominate),
 * through two buffers allocated once per task and reused: fresh buffers per chunk add up to the
 * whole task's uncompressed size in short-lived memory, which the allocator keeps as RSS.
 */
const LINE_CHUNK_BYTES = 256 * 1024;

/**
 * Writes one task's events into its object: rows streamed from PostgreSQL in sequence order, one
 * UAM event per line, through gzip, into writeObjectInParts (a single PutObject for small objects,
 * a multipart upload for large ones). Nothing holds more than a batch of rows, a chunk of lines
 * and `queueSize + 1` part buffers in memory, whatever the task size; the part buffers are kept
 * for the next task.
 */
export class ExportTaskUploader {
  private readonly partBuffers: PartBufferPool;

  constructor(
    private readonly repository: ExportJobRepository,
    private readonly options: UploaderOptions = DEFAULT_UPLOADER_OPTIONS,
  ) {
    // Each concurrent task's worth kept (issue #11): concurrentTasks × (queueSize + 1) part buffers
    // at most in use, since the executor runs no more tasks at once; anything beyond is dropped after use.
    this.partBuffers = new PartBufferPool(options.partSizeBytes, (options.queueSize + 1) * (options.concurrentTasks ?? 1));
  }

  /**
   * Uploads the task's object (overwriting an earlier attempt's) with the destination's server-side
   * encryption, and returns the number of events in it and the object's size and SHA-256 (computed
   * on the gzip output as it is sent, for the job's digest).
   */
  async upload(
    s3: S3Client,
    destination: { bucket: string; encryption: ObjectEncryption },
    jobId: string,
    task: PlannedTask,
  ): Promise<{ eventCount: number; object: DeliveredObject }> {
    const { rows, release } = await this.repository.streamEventBodies(task.fromSequence, task.toSequence);
    const gzip = createGzip({ level: this.options.gzipLevel });
    const target = {
      ...destination.encryption,
      Bucket: destination.bucket,
      Key: task.objectKey,
      ContentType: 'application/x-ndjson',
      ContentEncoding: 'gzip',
      Metadata: {
        'export-job-id': jobId,
        'event-offset': String(task.offset),
        'event-count': String(task.limit),
      },
    };
    const produced = writeNdjson(rows, gzip, task.limit).catch((error: unknown) => {
      // The writer sees the error on its next read and aborts the multipart upload.
      gzip.destroy(asError(error));
      throw error;
    });
    const written = writeObjectInParts(s3, target, gzip, { pool: this.partBuffers, concurrency: this.options.queueSize }).catch((error: unknown) => {
      rows.destroy();
      gzip.destroy();
      throw error;
    });
    // Both settle before this returns, whichever fails first: the writer's abort of the multipart
    // upload is finished before the task is retried under the same key or the S3 client destroyed.
    const [lines, upload] = await Promise.allSettled([produced, written]);
    const failure = [upload, lines].find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failure) {
      const error = asError(failure.reason);
      // The connection may be mid-query: drop it rather than hand it back to the pool.
      release(error);
      throw error;
    }
    release();
    const { bytes, sha256 } = (upload as PromiseFulfilledResult<{ bytes: number; sha256: string }>).value;
    return { eventCount: (lines as PromiseFulfilledResult<number>).value, object: { bytes, sha256 } };
  }
}

/**
 * Writes `[bodyText]` rows into gzip as newline-terminated lines and ends it; returns the line
 * count. Refuses to end with a count other than the planned one: the object must hold exactly the
 * task's events.
 *
 * Double buffering: one buffer is being compressed while the other fills. zlib reads a chunk in
 * place until the write's callback, so a buffer is reused only after its write has completed;
 * waiting for that callback is also the backpressure from gzip and the upload behind it.
 */
async function writeNdjson(rows: AsyncIterable<[string]>, gzip: Gzip, expected: number): Promise<number> {
  const buffers = [Buffer.allocUnsafe(LINE_CHUNK_BYTES), Buffer.allocUnsafe(LINE_CHUNK_BYTES)];
  let current = 0;
  let used = 0;
  let count = 0;
  let inFlight: Promise<void> = Promise.resolve();

  const flush = async (): Promise<void> => {
    if (used === 0) return;
    await inFlight; // the other buffer's write is done: after this switch it may be refilled
    inFlight = writeChunk(gzip, buffers[current].subarray(0, used));
    current = 1 - current;
    used = 0;
  };

  for await (const [body] of rows) {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit: flush before a line that might not fit.
    const worstCaseBytes = body.length * 3 + 1;
    if (used + worstCaseBytes > LINE_CHUNK_BYTES) await flush();
    if (worstCaseBytes > LINE_CHUNK_BYTES) {
      // A single event larger than a chunk: it gets a buffer of its own.
      await inFlight;
      inFlight = writeChunk(gzip, Buffer.from(body + '\n', 'utf8'));
    } else {
      used += buffers[current].write(body, used, 'utf8');
      buffers[current][used++] = 0x0a;
    }
    count += 1;
  }
  await flush();
  await inFlight;
  if (count !== expected) throw new Error(`Expected ${expected} events in the task, read ${count}`);
  await new Promise<void>((resolve, reject) => {
    gzip.once('error', reject);
    // 'close' after 'finish' comes too late to matter; before it, gzip was destroyed.
    gzip.once('close', () => reject(new Error('gzip closed before it finished')));
    gzip.end(() => resolve());
  });
  return count;
}

/** What was thrown, as an Error: streams and `release` take nothing else. */
function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}

/**
 * Resolves when gzip has taken the chunk. A destroyed gzip (the upload failed) never calls back
 * writes it was holding, so 'close' settles them too: otherwise the task would wait forever.
 */
function writeChunk(gzip: Gzip, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const closedFirst = () => reject(new Error('gzip closed before it took the chunk'));
    gzip.once('close', closedFirst);
    gzip.write(chunk, (error) => {
      gzip.off('close', closedFirst);
      if (error) reject(error);
      else resolve();
    });
  });
}

/**
 * Counts the retries the S3 client makes on its own (a request sent again after a 503, a
 * throttle, a reset), so that a task's `attempts` tells them too: one middleware counts commands,
 * one placed after the retry middleware counts every try of them.
 */
export function countClientRetries(client: S3Client): () => number {
  let commands = 0;
  let sends = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      commands += 1;
      return next(args);
    },
    { step: 'initialize', name: 'exportCountCommands', priority: 'high' },
  );
  const countSends: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next) => async (args) => {
    sends += 1;
    return next(args);
  };
  client.middlewareStack.addRelativeTo(countSends, { relation: 'after', toMiddleware: 'retryMiddleware', name: 'exportCountSends' });
  return () => Math.max(0, sends - commands);
}
