import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import type { ObjectEncryption } from '../aws/server-side-encryption';
import { encoderFor } from '../delivery-format/delivery-format.registry';
import { CompressionSlots, DEFAULT_COMPRESSION_CONCURRENCY } from '../delivery-format/parallel-gzip';
import type { DeliveredObject, ExportJobRepository, PlannedJob, PlannedTask } from './export-job.repository';
import { MIN_PART_SIZE_BYTES, PartBufferPool, writeObjectInParts } from './multipart-object.writer';

export interface UploaderOptions {
  /** Multipart part size, at least 5 MiB (S3's minimum). */
  partSizeBytes: number;
  /** Parts uploaded in parallel; a task holds this many part buffers plus the one filling. */
  queueSize: number;
  /** zlib level of the gzip formats; 6 is gzip's default. */
  gzipLevel: number;
  /** EXPORT_TASK_CONCURRENCY: tasks uploading at once in this process, each with part buffers of its own. */
  concurrentTasks?: number;
  /** EXPORT_COMPRESSION_CONCURRENCY: chunks this process deflates at once, over all its tasks (default: twice the cores). */
  compressionConcurrency?: number;
}

/** What one task put into S3. */
export interface UploadedObject {
  eventCount: number;
  /** The object's size as uploaded (compressed). */
  bytes: number;
}

// One part uploading while the next fills: to the bucket a part of 5 MiB takes a fraction of the time it takes to
// compress it on every core, and each more would hold another 5 MiB per running task (issue #11: RSS <= 192 MB).
export const DEFAULT_UPLOADER_OPTIONS: UploaderOptions = { partSizeBytes: MIN_PART_SIZE_BYTES, queueSize: 1, gzipLevel: 6 };

/** What the uploader needs of a task's job: the encoding and filter fixed at planning, and whose it is. */
export type UploadJob = Pick<PlannedJob, 'id' | 'configurationId' | 'format' | 'eventFilter'>;

/**
 * Writes one task's events into its object: events streamed from PostgreSQL in sequence order (the
 * canonical text of each event, its bytes verbatim), through the job's format encoder
 * (src/delivery-format), into writeObjectInParts (a single PutObject for small objects, a multipart
 * upload for large ones). Nothing holds more than a batch of events, the encoder's buffers and `queueSize + 1` part
 * buffers in memory, whatever the task size; the part buffers are kept for the next task.
 */
export class ExportTaskUploader {
  private readonly partBuffers: PartBufferPool;
  private readonly compressionSlots: CompressionSlots;

  constructor(
    private readonly repository: ExportJobRepository,
    private readonly options: UploaderOptions = DEFAULT_UPLOADER_OPTIONS,
  ) {
    // Each concurrent task's worth kept (issue #11): concurrentTasks × (queueSize + 1) part buffers
    // at most in use, since the executor runs no more tasks at once; anything beyond is dropped after use.
    this.partBuffers = new PartBufferPool(options.partSizeBytes, (options.queueSize + 1) * (options.concurrentTasks ?? 1));
    // One set for every task of this process: together they use the cores, not each as many as there are.
    this.compressionSlots = new CompressionSlots(options.compressionConcurrency ?? DEFAULT_COMPRESSION_CONCURRENCY);
  }

  /**
   * Uploads the task's object (overwriting an earlier attempt's) with the destination's server-side
   * encryption, and returns the number of events in it and the object's size and SHA-256 (computed
   * on the encoded bytes as they are sent, for the job's digest).
   */
  async upload(
    s3: S3Client,
    destination: { bucket: string; encryption: ObjectEncryption },
    job: UploadJob,
    task: PlannedTask,
  ): Promise<{ eventCount: number; object: DeliveredObject }> {
    const encoder = encoderFor(job.format, { gzipLevel: this.options.gzipLevel, compressionSlots: this.compressionSlots });
    const { batches, stop, release } = await this.repository.streamEventBodies(task.fromSequence, task.toSequence, {
      partitionStart: task.partitionStart,
      partitionEnd: task.partitionEnd,
      eventFilter: job.eventFilter,
    });
    const target = {
      ...destination.encryption,
      Bucket: destination.bucket,
      Key: task.objectKey,
      ContentType: encoder.contentType,
      ...(encoder.contentEncoding ? { ContentEncoding: encoder.contentEncoding } : {}),
      Metadata: {
        'export-job-id': job.id,
        'event-offset': String(task.offset),
        'event-count': String(task.limit),
        // Which configuration wrote the object, whatever its key says (docs/delivery-formats.md).
        'export-configuration-id': job.configurationId,
      },
    };
    const counter = { events: 0 };
    try {
      const { bytes, sha256 } = await writeObjectInParts(s3, target, encoder.encode(countedBatches(batches, task.limit, counter)), {
        pool: this.partBuffers,
        concurrency: this.options.queueSize,
      });
      await release();
      return { eventCount: counter.events, object: { bytes, sha256 } };
    } catch (error) {
      // The connection may be mid-query: stop the stream and drop it rather than hand it back to the pool.
      stop(asError(error));
      await release(asError(error));
      throw error;
    }
  }
}

/**
 * The batches of events, counted. Refuses to end with a count other than the planned one, before
 * the encoder can finish the object: the object must hold exactly the task's events.
 */
async function* countedBatches(batches: AsyncIterable<Buffer[]>, expected: number, counter: { events: number }): AsyncGenerator<Buffer[]> {
  for await (const batch of batches) {
    counter.events += batch.length;
    if (counter.events > expected) throw new Error(`Expected ${expected} events in the task, read more`);
    yield batch;
  }
  if (counter.events !== expected) throw new Error(`Expected ${expected} events in the task, read ${counter.events}`);
}

/** What was thrown, as an Error: streams and `release` take nothing else. */
function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
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
