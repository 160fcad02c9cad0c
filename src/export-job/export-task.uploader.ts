import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { Upload } from '@aws-sdk/lib-storage';
import type { ExportJobRepository, PlannedTask } from './export-job.repository';

export interface UploaderOptions {
  /** Multipart part size; lib-storage buffers up to queueSize parts, so memory is about their product. */
  partSizeBytes: number;
  /** Parts uploaded in parallel. */
  queueSize: number;
  /** zlib level; 6 is gzip's default. */
  gzipLevel: number;
}

export const DEFAULT_UPLOADER_OPTIONS: UploaderOptions = { partSizeBytes: 5 * 1024 * 1024, queueSize: 2, gzipLevel: 6 };

/** Lines are handed to gzip in chunks of about this size: one zlib call per line would dominate. */
const LINE_CHUNK_BYTES = 256 * 1024;

/**
 * Writes one task's events into its object: rows streamed from PostgreSQL in sequence order, one
 * UAM event per line, through gzip, into `@aws-sdk/lib-storage`'s Upload (a single PutObject for
 * small objects, a multipart upload for large ones). Nothing holds more than a batch of rows, a
 * chunk of lines and `queueSize` parts in memory, whatever the task size.
 */
export class ExportTaskUploader {
  constructor(
    private readonly repository: ExportJobRepository,
    private readonly options: UploaderOptions = DEFAULT_UPLOADER_OPTIONS,
  ) {}

  /** Uploads the task's object (overwriting an earlier attempt's) and returns the number of events in it. */
  async upload(s3: S3Client, bucket: string, jobId: string, task: PlannedTask, abortSignal?: AbortSignal): Promise<number> {
    const { rows, release } = await this.repository.streamEventBodies(task.fromSequence, task.toSequence);
    const lines = new NdjsonLines(task.limit);
    const gzip = createGzip({ level: this.options.gzipLevel });
    const upload = new Upload({
      client: s3,
      params: {
        Bucket: bucket,
        Key: task.objectKey,
        Body: gzip,
        ContentType: 'application/x-ndjson',
        ContentEncoding: 'gzip',
        Metadata: {
          'export-job-id': jobId,
          'event-offset': String(task.offset),
          'event-count': String(task.limit),
        },
      },
      partSize: this.options.partSizeBytes,
      queueSize: this.options.queueSize,
      // A failed multipart upload is aborted, so no orphaned parts are billed to the customer.
      leavePartsOnError: false,
      abortController: abortSignal ? linkedAbortController(abortSignal) : undefined,
    });
    const produced = pipeline(rows, lines, gzip);
    try {
      // Both must finish: the upload reads what the pipeline produces; if either fails, the other stops.
      await Promise.all([
        produced.catch(async (error: unknown) => {
          await upload.abort().catch(() => undefined);
          throw error;
        }),
        upload.done().catch((error: unknown) => {
          rows.destroy();
          throw error;
        }),
      ]);
      release();
    } catch (error) {
      // The connection may be mid-query: drop it rather than hand it back to the pool.
      release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    return lines.count;
  }
}

/**
 * `[bodyText]` rows → newline-terminated lines, in chunks of about LINE_CHUNK_BYTES. Refuses to
 * end with a count other than the planned one: the object must hold exactly the task's events.
 */
class NdjsonLines extends Transform {
  count = 0;
  private chunk: string[] = [];
  private chunkLength = 0;

  constructor(private readonly expected: number) {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: 64 });
  }

  override _transform(row: [string], _encoding: BufferEncoding, callback: TransformCallback): void {
    const body = row[0];
    this.chunk.push(body, '\n');
    this.chunkLength += body.length + 1;
    this.count += 1;
    if (this.chunkLength >= LINE_CHUNK_BYTES) this.flushChunk();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.flushChunk();
    if (this.count !== this.expected) {
      callback(new Error(`Expected ${this.expected} events in the task, read ${this.count}`));
      return;
    }
    callback();
  }

  private flushChunk(): void {
    if (this.chunkLength === 0) return;
    this.push(this.chunk.join(''));
    this.chunk = [];
    this.chunkLength = 0;
  }
}

function linkedAbortController(signal: AbortSignal): AbortController {
  const controller = new AbortController();
  if (signal.aborted) controller.abort();
  else signal.addEventListener('abort', () => controller.abort(), { once: true });
  return controller;
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
  client.middlewareStack.addRelativeTo(
    countSends,
    { relation: 'after', toMiddleware: 'retryMiddleware', name: 'exportCountSends' },
  );
  return () => Math.max(0, sends - commands);
}
