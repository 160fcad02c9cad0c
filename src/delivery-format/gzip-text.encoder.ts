import { createGzip, type Gzip } from 'node:zlib';
import type { DeliveryFormat } from '../generated/prisma/enums';
import type { DeliveryFormatEncoder, EncoderOptions } from './delivery-format.encoder';

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
 * Text is handed to gzip in chunks of about this size (one zlib call per event would dominate),
 * through two buffers allocated once per object and reused: fresh buffers per chunk add up to the
 * whole task's uncompressed size in short-lived memory, which the allocator keeps as RSS.
 */
const CHUNK_BYTES = 256 * 1024;

/** The encoder of one gzip text format. */
export function gzipTextEncoder(format: keyof typeof FRAMING, options: EncoderOptions): DeliveryFormatEncoder {
  const { extension, contentType, ...framing } = FRAMING[format];
  return {
    format: format satisfies DeliveryFormat,
    extension,
    contentType,
    contentEncoding: 'gzip',
    encode: (eventTexts) => {
      const gzip = createGzip({ level: options.gzipLevel });
      // The consumer reads gzip; a failure here (the events' read, or gzip) fails its read too.
      writeFramedText(eventTexts, framing, gzip).catch((error: unknown) => gzip.destroy(error instanceof Error ? error : new Error(String(error))));
      return gzip;
    },
  };
}

/**
 * Writes the framed events into gzip and ends it. Double buffering: one buffer is being
 * compressed while the other fills. zlib reads a chunk in place until the write's callback, so a
 * buffer is reused only after its write has completed; waiting for that callback is also the
 * backpressure from gzip and the upload behind it.
 */
async function writeFramedText(eventTexts: AsyncIterable<string>, framing: TextFraming, gzip: Gzip): Promise<void> {
  const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
  let current = 0;
  let used = 0;
  let inFlight: Promise<void> = Promise.resolve();

  const flush = async (): Promise<void> => {
    if (used === 0) return;
    await inFlight; // the other buffer's write is done: after this switch it may be refilled
    inFlight = writeChunk(gzip, buffers[current].subarray(0, used));
    current = 1 - current;
    used = 0;
  };
  // `suffix` is written right after `text` without concatenating them (one copy per event).
  const append = async (text: string, suffix = ''): Promise<void> => {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit: flush before a text that might not fit.
    const worstCaseBytes = (text.length + suffix.length) * 3;
    if (used + worstCaseBytes > CHUNK_BYTES) await flush();
    if (worstCaseBytes > CHUNK_BYTES) {
      // A single event larger than a chunk: it gets a buffer of its own.
      await inFlight;
      inFlight = writeChunk(gzip, Buffer.from(text + suffix, 'utf8'));
    } else {
      used += buffers[current].write(text, used, 'utf8');
      if (suffix) used += buffers[current].write(suffix, used, 'utf8');
    }
  };

  let first = true;
  if (framing.open) await append(framing.open);
  for await (const text of eventTexts) {
    if (!first && framing.separator) await append(framing.separator);
    first = false;
    await append(text, framing.terminator);
  }
  if (framing.close) await append(framing.close);
  await flush();
  await inFlight;
  await new Promise<void>((resolve, reject) => {
    gzip.once('error', reject);
    // 'close' after 'finish' comes too late to matter; before it, gzip was destroyed.
    gzip.once('close', () => reject(new Error('gzip closed before it finished')));
    gzip.end(() => resolve());
  });
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
