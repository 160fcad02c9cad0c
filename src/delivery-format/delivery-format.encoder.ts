import type { DeliveryFormat } from '../generated/prisma/enums';
import type { CompressionSlots } from './parallel-gzip';

/**
 * How one delivered object is encoded. The export uploader streams a task's events, each the
 * UTF-8 bytes of the canonical JSON text stored at ingestion (src/audit-event/audit-event.repository.ts),
 * in ingestion order and in batches, into `encode`, and writes the bytes it yields into the object
 * as they come (writeObjectInParts): an encoder never re-renders an event it does not have to, and
 * holds a bounded amount of memory whatever the task size.
 */
export interface DeliveryFormatEncoder {
  format: DeliveryFormat;
  /** The object name's extension, without the leading dot: `ndjson.gz`, `json.gz`, `parquet`. */
  extension: string;
  /** Sent as the object's Content-Type. */
  contentType: string;
  /** Sent as the object's Content-Encoding (`gzip` for the gzip formats); absent for none. */
  contentEncoding?: string;
  /**
   * The object's bytes, from the task's events in order. It must read `eventBatches` to its end
   * (the uploader checks the count there) and fail, rather than end, when that read fails. A
   * batch's buffers may be views into memory that is reused once the next batch is asked for.
   */
  encode(eventBatches: AsyncIterable<readonly Buffer[]>): AsyncIterable<Uint8Array>;
}

/** What an encoder may be tuned with (the uploader's settings). */
export interface EncoderOptions {
  /** zlib level of the gzip formats; 6 is gzip's default. */
  gzipLevel: number;
  /** The process's compression slots (EXPORT_COMPRESSION_CONCURRENCY, shared by its objects); default: a set of its own, twice the machine's cores. */
  compressionSlots?: CompressionSlots;
}
