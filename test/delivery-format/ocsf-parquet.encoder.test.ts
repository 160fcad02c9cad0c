import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { mapUamEventToOcsf } from '../../src/delivery-format/ocsf/ocsf-mapping';
import { encodeOcsfParquet } from '../../src/delivery-format/ocsf/ocsf-parquet.encoder';
import { validateOcsfRecord } from './ocsf-schema-validator';
import { branchSamples, realisticUamEvent } from './uam-sample-events';

type Json = Record<string, any>;

async function* fromArray(texts: readonly string[]): AsyncIterable<string> {
  for (const text of texts) yield text;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

/** DuckDB renders TIMESTAMPTZ as "2026-11-19 00:00:47.514+00"; back to epoch milliseconds like the OCSF record. */
const epochMillis = (text: string) => Date.parse(text.replace(' ', 'T').replace(/\+00$/, 'Z'));

/** A DuckDB row as JSON, nulls dropped (the record leaves absent attributes out), timestamps as epoch ms. */
function normalise(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) return value.map((item) => normalise(item));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== null)
      .map(([name, item]) => [name, normalise(item, name)]);
    return Object.fromEntries(entries);
  }
  return (key === 'time' || key === 'logged_time') && typeof value === 'string' ? epochMillis(value) : value;
}

// Encoding and reading back 25,000 events takes seconds, more on a loaded machine; no speed is asserted.
jest.setTimeout(180_000);

describe('OCSF Parquet encoder, read back with DuckDB', () => {
  let directory: string;
  let duckdb: DuckDBInstance;
  let connection: DuckDBConnection;
  const query = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJson() as Json[];

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'ocsf-parquet-'));
    duckdb = await DuckDBInstance.create(':memory:');
    connection = await duckdb.connect();
  });
  afterAll(async () => {
    connection.closeSync();
    duckdb.closeSync();
    await rm(directory, { recursive: true, force: true });
  });

  describe('25,000 realistic events in row groups of 10,000', () => {
    const events = Array.from({ length: 25_000 }, (_, index) => realisticUamEvent(index));
    let file: string;

    beforeAll(async () => {
      file = join(directory, 'events.parquet');
      await writeFile(file, await collect(encodeOcsfParquet(fromArray(events.map((event) => JSON.stringify(event))), { rowGroupSize: 10_000 })));
    });

    it('holds every event once, in order, with its class_uid, time and metadata.uid', async () => {
      const rows = await query(
        `SELECT file_row_number, class_uid, epoch_ms(time) AS time, metadata.uid AS uid FROM read_parquet('${file}', file_row_number = true) ORDER BY file_row_number`,
      );
      expect(rows).toHaveLength(events.length);
      const expected = events.map((event, index) => ({
        file_row_number: String(index),
        class_uid: mapUamEventToOcsf(event).class_uid,
        time: String(Date.parse(event.eventTimestamp as string)),
        uid: event.id,
      }));
      expect(rows).toEqual(expected);
      expect(new Set(rows.map((row) => row.class_uid))).toEqual(new Set([3001, 3002, 3004, 6003, 6005]));
    });

    it('is written in three Snappy row groups of at most 10,000 rows', async () => {
      const groups = await query(
        `SELECT row_group_id, any_value(row_group_num_rows) AS num_rows, list(DISTINCT compression) AS codecs FROM parquet_metadata('${file}') GROUP BY row_group_id ORDER BY row_group_id`,
      );
      expect(groups).toEqual([
        { row_group_id: '0', num_rows: '10000', codecs: ['SNAPPY'] },
        { row_group_id: '1', num_rows: '10000', codecs: ['SNAPPY'] },
        { row_group_id: '2', num_rows: '5000', codecs: ['SNAPPY'] },
      ]);
    });

    it('has the logical types of the OCSF dictionary: timestamps in UTC milliseconds, integer as INTEGER, long as BIGINT, objects as STRUCT', async () => {
      const columns = Object.fromEntries((await query(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).map((row) => [row.column_name, row.column_type]));
      expect(columns).toMatchObject({
        class_uid: 'INTEGER',
        category_uid: 'INTEGER',
        activity_id: 'INTEGER',
        severity_id: 'INTEGER',
        status_id: 'INTEGER',
        type_uid: 'BIGINT',
        time: 'TIMESTAMP WITH TIME ZONE',
        unmapped: 'JSON',
      });
      expect(columns.metadata).toMatch(
        /^STRUCT\("version" VARCHAR, product STRUCT\("name" VARCHAR, vendor_name VARCHAR\), uid VARCHAR, original_time VARCHAR, logged_time TIMESTAMP WITH TIME ZONE,/,
      );
      expect(columns.actor).toMatch(/^STRUCT\("user" STRUCT\(uid VARCHAR, "name" VARCHAR, "type" VARCHAR, type_id INTEGER/);
      const [physical] = await query(`SELECT type, logical_type FROM parquet_schema('${file}') WHERE name = 'time'`);
      expect(physical.type).toBe('INT64');
      expect(physical.logical_type).toMatch(/isAdjustedToUTC=1.*MILLIS|MILLIS.*isAdjustedToUTC=1/i);
      expect(await query(`SELECT key::VARCHAR AS key, value::VARCHAR AS value FROM parquet_kv_metadata('${file}')`)).toEqual([{ key: 'ocsf.version', value: '1.7.0' }]);
    });
  });

  it('gives back every mapped record whole: each branch sample reads back equal to its OCSF record, valid against the schema', async () => {
    const events = branchSamples();
    const file = join(directory, 'branches.parquet');
    await writeFile(file, await collect(encodeOcsfParquet(fromArray(events.map((event) => JSON.stringify(event))), { rowGroupSize: 4 })));
    const rows = await query(`SELECT to_json(t)::VARCHAR AS row FROM read_parquet('${file}', file_row_number = true) t ORDER BY file_row_number`);
    const readBack = rows.map((row) => {
      const { file_row_number: _number, ...record } = normalise(JSON.parse(row.row)) as Json;
      return record;
    });
    expect(readBack).toEqual(events.map((event) => JSON.parse(JSON.stringify(mapUamEventToOcsf(event)))));
    for (const record of readBack) expect(validateOcsfRecord(record)).toEqual([]);
  });

  it('writes a valid empty file for no events', async () => {
    const file = join(directory, 'empty.parquet');
    await writeFile(file, await collect(encodeOcsfParquet(fromArray([]))));
    expect(await query(`SELECT count(*) AS n FROM read_parquet('${file}')`)).toEqual([{ n: '0' }]);
  });

  it('reads no further ahead than the row group it fills, and hands each row group over as soon as it is written', async () => {
    const rowGroupSize = 1_000;
    const total = 7_500;
    let pulled = 0;
    async function* source(): AsyncIterable<string> {
      for (let index = 0; index < total; index += 1) {
        pulled += 1;
        yield JSON.stringify(realisticUamEvent(index));
      }
    }
    const pulledAtEachChunk: number[] = [];
    const chunks: Uint8Array[] = [];
    for await (const chunk of encodeOcsfParquet(source(), { rowGroupSize })) {
      pulledAtEachChunk.push(pulled);
      chunks.push(chunk);
    }
    // One chunk per full row group, taken when exactly that many events were read (never more
    // than rowGroupSize mapped rows held), then the last partial group with the footer.
    expect(pulledAtEachChunk).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 7500]);
    // Each full row group's chunk is about one row group of bytes, not the file so far.
    const fullGroups = chunks.slice(0, 7).map((chunk) => chunk.byteLength);
    expect(Math.max(...fullGroups)).toBeLessThan(2 * Math.min(...fullGroups));
    const file = join(directory, 'streamed.parquet');
    await writeFile(file, Buffer.concat(chunks));
    expect(await query(`SELECT count(*) AS n, count(DISTINCT metadata.uid) AS ids FROM read_parquet('${file}')`)).toEqual([{ n: '7500', ids: '7500' }]);
  });

  it('refuses a row group size that is not a positive integer', async () => {
    await expect(collect(encodeOcsfParquet(fromArray([]), { rowGroupSize: 0 }))).rejects.toThrow(RangeError);
  });
});
