import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encoderFor } from '../../src/delivery-format/delivery-format.registry';
import { CompressionSlots, gzipChunksInParallel, type TextChunk } from '../../src/delivery-format/parallel-gzip';

/** Every byte an encoder yields, joined. */
async function collect(bytes: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of bytes) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

/** The events as the repository streams them: UTF-8 bytes, in batches (of 97 here, so batches and chunks never line up). */
async function* texts(values: string[]): AsyncGenerator<Buffer[]> {
  for (let start = 0; start < values.length; start += 97) yield values.slice(start, start + 97).map((value) => Buffer.from(value, 'utf8'));
}

/** Events of varied shapes and sizes: ASCII, multi-byte UTF-8 and surrogate pairs, some larger than a chunk (256 KiB). */
function sampleEvents(count: number): string[] {
  return Array.from({ length: count }, (_, index) => {
    const filler = index % 997 === 0 ? 'x'.repeat(300_000) : randomBytes(40 + (index % 300)).toString('base64');
    return JSON.stringify({ id: `event-${index}`, note: index % 7 === 0 ? `é€😀 ${index}` : 'plain', filler });
  });
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('gzip text formats compressed on every core (parallel-gzip)', () => {
  const events = sampleEvents(12_000); // about 4 MB of text: many chunks
  const ndjson = events.map((event) => `${event}\n`).join('');

  it('is one gzip member that zlib, gzip and pigz all read back as the exact text', async () => {
    const object = await collect(encoderFor('NDJSON_GZIP', { gzipLevel: 6, compressionSlots: new CompressionSlots(2) }).encode(texts(events)));
    expect(gunzipSync(object).toString('utf8')).toBe(ndjson);
    expect(execFileSync('gzip', ['-dc'], { input: object, maxBuffer: 64 << 20 }).toString('utf8')).toBe(ndjson);
    expect(execFileSync('gzip', ['-t'], { input: object }).length).toBe(0);
    expect(execFileSync('pigz', ['-dc'], { input: object, maxBuffer: 64 << 20 }).toString('utf8')).toBe(ndjson);
    // One member: gzip -l reads the trailer's length (mod 2^32) as the whole text's.
    const listing = execFileSync('gzip', ['-lq'], { input: object }).toString('utf8').trim().split(/\s+/);
    expect(Number(listing[1])).toBe(Buffer.byteLength(ndjson));
    // Compression close to a single zlib stream's (the dictionaries keep chunk boundaries cheap).
    expect(object.length).toBeLessThan(gzipSync(ndjson, { level: 6 }).length * 1.01);
  });

  it('writes the same bytes whatever the number of chunks deflated at once, and each format its own framing', async () => {
    const digests = new Set<string>();
    for (const concurrency of [1, 2, 3, 8]) {
      digests.add(sha256(await collect(encoderFor('NDJSON_GZIP', { gzipLevel: 6, compressionSlots: new CompressionSlots(concurrency) }).encode(texts(events)))));
    }
    expect(digests.size).toBe(1);
    const array = await collect(encoderFor('JSON_ARRAY_GZIP', { gzipLevel: 6, compressionSlots: new CompressionSlots(2) }).encode(texts(events)));
    expect(gunzipSync(array).toString('utf8')).toBe(`[${events.join(',')}]`);
    const cloudTrail = await collect(encoderFor('CLOUDTRAIL_JSON_GZIP', { gzipLevel: 6, compressionSlots: new CompressionSlots(2) }).encode(texts(events.slice(0, 3))));
    expect(gunzipSync(cloudTrail).toString('utf8')).toBe(`{"Records":[${events.slice(0, 3).join(',')}]}`);
  });

  it('shares one set of slots between objects: never more chunks deflating than slots, first come first served, each object still exact', async () => {
    const slots = new CompressionSlots(2);
    let holding = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3, 4, 5].map(async (caller) => {
        const freeSlot = await slots.acquire();
        order.push(caller);
        holding += 1;
        most = Math.max(most, holding);
        await new Promise((resolve) => setTimeout(resolve, 10));
        holding -= 1;
        freeSlot();
      }),
    );
    expect(most).toBe(2);
    expect(order).toEqual([1, 2, 3, 4, 5]);

    const shared = new CompressionSlots(2);
    const [ndjsonObject, arrayObject] = await Promise.all([
      collect(encoderFor('NDJSON_GZIP', { gzipLevel: 6, compressionSlots: shared }).encode(texts(events))),
      collect(encoderFor('JSON_ARRAY_GZIP', { gzipLevel: 6, compressionSlots: shared }).encode(texts(events))),
    ]);
    expect(gunzipSync(ndjsonObject).toString('utf8')).toBe(ndjson);
    expect(gunzipSync(arrayObject).toString('utf8')).toBe(`[${events.join(',')}]`);
  });

  it('encodes no events as the empty gzip zlib writes', async () => {
    const object = await collect(encoderFor('NDJSON_GZIP', { gzipLevel: 6, compressionSlots: new CompressionSlots(2) }).encode(texts([])));
    expect(object.equals(gzipSync(Buffer.alloc(0), { level: 6 }))).toBe(true);
    const emptyArray = await collect(encoderFor('JSON_ARRAY_GZIP', { gzipLevel: 6 }).encode(texts([])));
    expect(gunzipSync(emptyArray).toString('utf8')).toBe('[]');
  });

  it('fails when its source fails, after every running deflate has given its buffer back', async () => {
    let released = 0;
    let handedOut = 0;
    async function* failingChunks(): AsyncGenerator<TextChunk> {
      for (let index = 0; index < 6; index += 1) {
        handedOut += 1;
        yield { bytes: randomBytes(256 * 1024), release: () => (released += 1) };
      }
      throw new Error('the event stream broke');
    }
    await expect(collect(gzipChunksInParallel(failingChunks(), { level: 6, slots: new CompressionSlots(3) }))).rejects.toThrow('the event stream broke');
    expect(handedOut).toBe(6);
    expect(released).toBe(6);
  });

  it('fails on a bad level without leaving a rejection unhandled, and refuses a concurrency below 1', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(collect(encoderFor('NDJSON_GZIP', { gzipLevel: 42, compressionSlots: new CompressionSlots(2) }).encode(texts(events.slice(0, 2000))))).rejects.toThrow(/level/i);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(() => new CompressionSlots(0)).toThrow(/compression concurrency/);
  });
});
