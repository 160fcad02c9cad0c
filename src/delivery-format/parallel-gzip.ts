import { availableParallelism } from 'node:os';
import { constants, crc32, deflateRaw } from 'node:zlib';
import { Slots } from '../common/slots';

/**
 * gzip on every core, as pigz does it: the text is cut into chunks, each chunk is deflated on its
 * own in libuv's thread pool (several at once), primed with the last 32 KiB of the chunk before it
 * as its dictionary, and ended with a sync flush so that the next chunk's deflate data starts on a
 * byte boundary. Joined in order, behind one gzip header and ahead of one trailer (the CRC-32 and
 * length of the whole text), they are one ordinary gzip member that every gunzip reads.
 *
 * Why not zlib's own gzip stream: one stream is one thread, and deflate is most of an export's CPU
 * (issue #11). Why not a library: the npm ports of pigz are either native addons (this project
 * installs none) or spawn the pigz binary, which a worker may not have; Node's zlib already has
 * every piece (raw deflate with a dictionary, sync flush, crc32), so this is only their plumbing.
 *
 * The bytes depend on the chunks' boundaries and the level only, never on how many run at once or
 * on timing: the same events give the same object on every retry (its SHA-256 is in the digest).
 */

/** The window of deflate: a chunk may refer back this far into the text before it. */
const DICTIONARY_BYTES = 32 * 1024;

/**
 * zlib's output buffer per chunk: larger than any chunk's deflate output (about an eighth of its
 * 256 KiB of JSON), so that a chunk is deflated in one trip to the thread pool, not one per 16 KiB.
 */
const DEFLATE_OUTPUT_BYTES = 128 * 1024;

/** gzip's fixed header: deflate, no name or time, OS unix (the bytes zlib's gzip writes at level 6). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]);

/** An empty final block (fixed Huffman, end of block at once): closes the deflate data after the last sync-flushed chunk. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);

export interface ParallelGzipOptions {
  /** zlib level; 6 is gzip's default. */
  level: number;
  /** The process's compression slots: every chunk deflated holds one, whatever object it is of. */
  slots: CompressionSlots;
}

/**
 * How many chunks this process deflates at once, over all the objects it writes (pigz's `-p`).
 * One set per process (the uploader's), so that two tasks at once share the cores instead of
 * each queueing as many chunks as there are cores.
 */
export class CompressionSlots extends Slots {
  constructor(size: number) {
    super(size, 'compression concurrency');
  }
}

/**
 * The default number of chunks being deflated at once: twice the cores. With one per core, a core
 * waits whenever its chunk is done and the main thread has not yet collected it and sent the next
 * (measured on 2 cores: 100,000 events took 0.76 s at 2, 0.65 s at 4 to 6).
 */
export const DEFAULT_COMPRESSION_CONCURRENCY = 2 * availableParallelism();

/**
 * A chunk of text to compress and what to do once it has been read: the producer reuses its
 * buffer only after `release`, since zlib reads it in place in another thread.
 */
export interface TextChunk {
  bytes: Buffer;
  release(): void;
}

/**
 * The gzip bytes of the chunks' text, in order. A chunk is deflated once it has one of the
 * process's slots; at most as many of this object's chunks as there are slots wait or run at once,
 * and the next chunk is read only when the oldest is done (backpressure on the producer).
 * A failure of the source or of zlib fails the iteration; the deflates still running are
 * awaited first, so no buffer is released while zlib may still read it.
 */
export async function* gzipChunksInParallel(chunks: AsyncIterable<TextChunk>, options: ParallelGzipOptions): AsyncGenerator<Buffer> {
  const pending: Array<Promise<Buffer>> = [];
  let crc = 0;
  let length = 0;
  let dictionary: Buffer | undefined;
  yield GZIP_HEADER;
  try {
    for await (const chunk of chunks) {
      crc = crc32(chunk.bytes, crc);
      length = (length + chunk.bytes.length) % 2 ** 32;
      const deflated = deflateChunk(chunk, dictionary, options.level, options.slots);
      // Handled when its turn comes; until then a rejection must not count as unhandled (it would end the process).
      deflated.catch(() => undefined);
      pending.push(deflated);
      // A copy: the chunk's buffer goes back to the producer while the next chunk may still be deflating.
      dictionary = Buffer.from(chunk.bytes.subarray(Math.max(0, chunk.bytes.length - DICTIONARY_BYTES)));
      if (pending.length >= options.slots.size) yield await pending.shift()!;
    }
    while (pending.length > 0) yield await pending.shift()!;
  } finally {
    // On a failure (or an early return), wait for what zlib is still doing before the buffers are freed.
    await Promise.allSettled(pending);
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length, 4);
  yield Buffer.concat([FINAL_EMPTY_BLOCK, trailer]);
}

/** Deflates one chunk in the thread pool (raw, sync-flushed) once it has a slot, then gives its buffer and the slot back. */
async function deflateChunk(chunk: TextChunk, dictionary: Buffer | undefined, level: number, slots: CompressionSlots): Promise<Buffer> {
  const freeSlot = await slots.acquire();
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      deflateRaw(chunk.bytes, { level, chunkSize: DEFLATE_OUTPUT_BYTES, finishFlush: constants.Z_SYNC_FLUSH, ...(dictionary ? { dictionary } : {}) }, (error, deflated) => {
        if (error) reject(error);
        else resolve(deflated);
      });
    });
  } finally {
    chunk.release();
    freeSlot();
  }
}
