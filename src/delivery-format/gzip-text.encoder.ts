import type { DeliveryFormat } from '../generated/prisma/enums';
import type { DeliveryFormatEncoder, EncoderOptions } from './delivery-format.encoder';
import { CompressionSlots, DEFAULT_COMPRESSION_CONCURRENCY, gzipChunksInParallel, type TextChunk } from './parallel-gzip';

/**
 * The gzip text formats: every event's canonical text copied as it is, between a fixed opening,
 * separator and closing. Nothing is parsed or re-serialised, so the events inside a JSON array or
 * a CloudTrail `Records` list are byte for byte the NDJSON lines.
 */
interface TextFraming {
  /** Written before the first event. */
  open: string;
  /** Written between two events. */
  separator: string;
  /** Written after every event (NDJSON's newline). */
  terminator: string;
  /** Written after the last event. */
  close: string;
}

const FRAMING: Record<'NDJSON_GZIP' | 'JSON_ARRAY_GZIP' | 'CLOUDTRAIL_JSON_GZIP', TextFraming & { extension: string; contentType: string }> = {
  // One event per line, each line ending with "\n" (the bytes delivered before formats existed).
  NDJSON_GZIP: { open: '', separator: '', terminator: '\n', close: '', extension: 'ndjson.gz', contentType: 'application/x-ndjson' },
  // Wiv: one JSON array per object.
  JSON_ARRAY_GZIP: { open: '[', separator: ',', terminator: '', close: ']', extension: 'json.gz', contentType: 'application/json' },
  // CloudTrail's log file shape: {"Records":[...]}.
  CLOUDTRAIL_JSON_GZIP: { open: '{"Records":[', separator: ',', terminator: '', close: ']}', extension: 'json.gz', contentType: 'application/json' },
};

/**
 * Text is cut into chunks of about this size, each deflated on its own (src/delivery-format/
 * parallel-gzip.ts): large enough that the 32 KiB dictionary and the per-chunk call cost little
 * (pigz uses 128 KiB), small enough that a few in flight hold little memory.
 */
const CHUNK_BYTES = 256 * 1024;

/** The encoder of one gzip text format. */
export function gzipTextEncoder(format: keyof typeof FRAMING, options: EncoderOptions): DeliveryFormatEncoder {
  const { extension, contentType, ...framing } = FRAMING[format];
  const slots = options.compressionSlots ?? new CompressionSlots(DEFAULT_COMPRESSION_CONCURRENCY);
  return {
    format: format satisfies DeliveryFormat,
    extension,
    contentType,
    contentEncoding: 'gzip',
    // One buffer per chunk this object may have waiting or being deflated, plus the one filling.
    encode: (eventBatches) => gzipChunksInParallel(framedTextChunks(eventBatches, framing, slots.size + 1), { level: options.gzipLevel, slots }),
  };
}

/**
 * The framed events' bytes as chunks of at most CHUNK_BYTES (an event larger than that gets a
 * chunk of its own), copied into `bufferCount` buffers allocated once per object and reused:
 * fresh buffers per chunk add up to the whole task's uncompressed size in short-lived memory,
 * which the allocator keeps as RSS. A buffer is refilled only after the compressor released it;
 * waiting for one is the backpressure from compression and the upload behind it. Within a batch,
 * nothing is awaited but that: no promise per event.
 */
async function* framedTextChunks(eventBatches: AsyncIterable<readonly Buffer[]>, framing: TextFraming, bufferCount: number): AsyncGenerator<TextChunk> {
  const free: Buffer[] = Array.from({ length: bufferCount }, () => Buffer.allocUnsafe(CHUNK_BYTES));
  let bufferReleased: (() => void) | undefined;
  const takeFreeBuffer = async (): Promise<Buffer> => {
    while (free.length === 0) await new Promise<void>((resolve) => (bufferReleased = resolve));
    return free.pop()!;
  };
  const chunkOf = (buffer: Buffer, used: number): TextChunk => ({
    bytes: buffer.subarray(0, used),
    release: () => {
      free.push(buffer);
      bufferReleased?.();
    },
  });
  const open = Buffer.from(framing.open);
  const separator = Buffer.from(framing.separator);
  const terminator = Buffer.from(framing.terminator);
  const close = Buffer.from(framing.close);

  let current: Buffer | undefined; // taken when the first bytes go in: a chunk just handed over may hold the last free buffer
  let used = 0;
  let events = 0;
  // Each event goes in as one piece with what precedes it (the opening or a separator) and what
  // follows it (NDJSON's newline), so a piece is never split across chunks.
  for await (const batch of eventBatches) {
    for (const event of batch) {
      const before = events === 0 ? open : separator;
      events += 1;
      const bytes = before.length + event.length + terminator.length;
      if (current && used + bytes > CHUNK_BYTES) {
        yield chunkOf(current, used);
        current = undefined;
        used = 0;
      }
      if (bytes > CHUNK_BYTES) {
        yield { bytes: Buffer.concat([before, event, terminator]), release: () => undefined };
        continue;
      }
      current ??= await takeFreeBuffer();
      used += before.copy(current, used);
      used += event.copy(current, used);
      used += terminator.copy(current, used);
    }
  }
  // The closing (with the opening, when there was no event: "[]", '{"Records":[]}').
  const ending = events === 0 ? Buffer.concat([open, close]) : close;
  if (current && used + ending.length > CHUNK_BYTES) {
    yield chunkOf(current, used);
    current = undefined;
    used = 0;
  }
  if (ending.length > 0) {
    current ??= await takeFreeBuffer();
    used += ending.copy(current, used);
  }
  if (current && used > 0) yield chunkOf(current, used);
}
