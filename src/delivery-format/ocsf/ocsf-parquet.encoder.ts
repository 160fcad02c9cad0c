import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { mapUamEventToOcsf, OCSF_VERSION, type OcsfRecord } from './ocsf-mapping';
import { OCSF_PARQUET_SCHEMA, toColumnData } from './ocsf-parquet.schema';

/** Rows per row group unless told otherwise: about 5-10 MB of column data for typical UAM events. */
export const DEFAULT_OCSF_ROW_GROUP_SIZE = 10_000;

export interface OcsfParquetOptions {
  /** Rows per row group (and so the most mapped rows held at once). */
  rowGroupSize?: number;
}

/**
 * A hyparquet-writer output that hands over its bytes instead of keeping them: after each row
 * group the encoder takes what was written and the buffer is reused from its start, so the memory
 * held is the largest row group's encoded size, not the file's. `offset` (bytes written since
 * the file began) keeps counting, as the writer needs it for the footer's column offsets;
 * hyparquet-writer's own file writer (src/node.js) resets `index` the same way.
 */
class ChunkWriter extends ByteWriter {
  /** Copies out the bytes written since the last call and starts the buffer over. */
  take(): Uint8Array {
    const chunk = new Uint8Array(this.buffer, 0, this.index).slice();
    this.index = 0;
    return chunk;
  }
}

/**
 * Encodes events as one OCSF 1.7.0 Parquet file with Snappy compression: takes the canonical JSON
 * text of each event, in order, maps it (ocsf-mapping.ts) and yields the file's bytes one row
 * group at a time, then the footer. At most `rowGroupSize` mapped rows are held at once, and the
 * source is read no further ahead than the row group being filled, whatever the number of events.
 *
 * Rows keep the order of `eventTexts`. Zero events give a valid file with no row group.
 */
export async function* encodeOcsfParquet(eventTexts: AsyncIterable<string>, options: OcsfParquetOptions = {}): AsyncIterable<Uint8Array> {
  const rowGroupSize = options.rowGroupSize ?? DEFAULT_OCSF_ROW_GROUP_SIZE;
  if (!Number.isInteger(rowGroupSize) || rowGroupSize < 1) throw new RangeError(`rowGroupSize must be a positive integer, got ${rowGroupSize}`);
  const output = new ChunkWriter();
  const parquet = new ParquetWriter({
    writer: output,
    schema: OCSF_PARQUET_SCHEMA,
    codec: 'SNAPPY',
    kvMetadata: [{ key: 'ocsf.version', value: OCSF_VERSION }],
    createdBy: 'audit-export (hyparquet-writer)',
  });
  let rows: OcsfRecord[] = [];
  const writeRowGroup = () => {
    // One write() per row group: the writer splits a call into groups of at most rowGroupSize rows.
    parquet.write({ columnData: toColumnData(rows) as Parameters<ParquetWriter['write']>[0]['columnData'], rowGroupSize });
    rows = [];
  };
  for await (const text of eventTexts) {
    rows.push(mapUamEventToOcsf(JSON.parse(text) as Record<string, unknown>));
    if (rows.length === rowGroupSize) {
      writeRowGroup();
      yield output.take();
    }
  }
  if (rows.length > 0) writeRowGroup();
  parquet.finish();
  yield output.take();
}
