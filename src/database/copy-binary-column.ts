import type { Readable } from 'node:stream';

/**
 * Reads the output of `COPY (SELECT <one column>) TO STDOUT (FORMAT binary)` as batches of the
 * column's raw bytes, one batch per chunk the connection delivered.
 *
 * Why COPY rather than a cursor: a cursor's rows are decoded by pg into JavaScript strings, which
 * an export then encodes back to UTF-8 to compress: two passes over every byte, plus an object and
 * an async step per row. In binary COPY, a json value is its text's bytes as stored (json_send), so
 * the event bodies reach the compressor as they are in the table: copied once, never decoded
 * (issue #11). pg-copy-streams frames the protocol's CopyData messages; their content is the
 * binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4), which
 * this parses: a header, then per row a field count and each field's length and bytes, then -1.
 *
 * The buffers of a batch are views into the chunk it came from: use them before asking for the
 * next batch, or copy them.
 */

/** "PGCOPY\n\377\r\n\0": the format's signature. */
const SIGNATURE = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]);
/** Signature, 32-bit flags, 32-bit length of the header extension (whose bytes follow). */
const FIXED_HEADER_BYTES = SIGNATURE.length + 4 + 4;

export class CopyFormatError extends Error {
  override name = 'CopyFormatError';
}

/** The rows of a one-column binary COPY, in order, in batches; NULL is refused (the column must be NOT NULL). */
export async function* binaryCopyColumnBatches(copyOutput: Readable): AsyncGenerator<Buffer[]> {
  let pending: Buffer | undefined; // bytes of a header or row that the next chunk completes
  let headerRead = false;
  let ended = false;
  for await (const received of copyOutput as AsyncIterable<Buffer>) {
    const chunk = pending ? Buffer.concat([pending, received]) : received;
    pending = undefined;
    let offset = 0;
    if (!headerRead) {
      if (chunk.length < FIXED_HEADER_BYTES || chunk.length < FIXED_HEADER_BYTES + chunk.readUInt32BE(FIXED_HEADER_BYTES - 4)) {
        pending = chunk;
        continue;
      }
      if (!chunk.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new CopyFormatError('COPY output does not start with the binary format signature');
      offset = FIXED_HEADER_BYTES + chunk.readUInt32BE(FIXED_HEADER_BYTES - 4);
      headerRead = true;
    }
    const batch: Buffer[] = [];
    while (!ended && chunk.length - offset >= 2) {
      const fields = chunk.readInt16BE(offset);
      if (fields === -1) {
        ended = true;
        offset += 2;
        break;
      }
      if (fields !== 1) throw new CopyFormatError(`expected one column per row in the COPY output, got ${fields}`);
      if (chunk.length - offset < 6) break;
      const length = chunk.readInt32BE(offset + 2);
      if (length < 0) throw new CopyFormatError('a NULL value in the COPY output of a NOT NULL column');
      if (chunk.length - offset < 6 + length) break;
      batch.push(chunk.subarray(offset + 6, offset + 6 + length));
      offset += 6 + length;
    }
    if (offset < chunk.length) {
      if (ended) throw new CopyFormatError('bytes after the end of the COPY output');
      pending = chunk.subarray(offset);
    }
    if (batch.length > 0) yield batch;
  }
  if (!ended) {
    throw new CopyFormatError(
      !headerRead ? 'the COPY output ended before its header' : pending ? 'the COPY output ended in the middle of a row' : 'the COPY output ended before its end marker',
    );
  }
}
