import { Readable } from 'node:stream';
import { Pool } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { binaryCopyColumnBatches, CopyFormatError } from '../../src/database/copy-binary-column';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** Every value of every batch, as text. */
async function values(chunks: Buffer[]): Promise<string[]> {
  const read: string[] = [];
  for await (const batch of binaryCopyColumnBatches(Readable.from(chunks))) for (const value of batch) read.push(value.toString('utf8'));
  return read;
}

describe('binaryCopyColumnBatches: the rows of a one-column binary COPY', () => {
  let db: TestDatabase;
  let pool: Pool;
  const texts = ['{"a":1}', '{"é":"€😀","n":[1,[2,{}]]}', '{ "spaced" :  1.0e3 }', '{"b":"\\\\ \\" \\n"}'];
  let output: Buffer;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 1 });
    await db.query('CREATE TABLE copied (position int, body json NOT NULL)');
    for (const [position, text] of texts.entries()) await db.query('INSERT INTO copied VALUES ($1, $2::json)', [position, text]);
    // The real server's bytes, to split in every way below.
    const client = await pool.connect();
    const chunks: Buffer[] = [];
    for await (const chunk of client.query(copyTo('COPY (SELECT body FROM copied ORDER BY position) TO STDOUT (FORMAT binary)'))) chunks.push(chunk as Buffer);
    client.release();
    output = Buffer.concat(chunks);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it("reads PostgreSQL's output as the stored json texts, byte for byte, however it is split into chunks", async () => {
    expect(await values([output])).toEqual(texts);
    for (let cut = 1; cut < output.length; cut += 1) {
      expect(await values([output.subarray(0, cut), output.subarray(cut)])).toEqual(texts);
    }
    // One byte at a time.
    expect(await values([...output].map((byte) => Buffer.from([byte])))).toEqual(texts);
  });

  it('refuses what is not a whole one-column binary COPY', async () => {
    await expect(values([Buffer.from('PGCOPY but not really, a text COPY instead\n')])).rejects.toThrow(CopyFormatError);
    await expect(values([output.subarray(0, output.length - 2)])).rejects.toThrow('ended before its end marker');
    await expect(values([output.subarray(0, output.length - 3)])).rejects.toThrow('ended in the middle of a row');
    await expect(values([output.subarray(0, 5)])).rejects.toThrow('ended before its header');
    await expect(values([output, Buffer.from([0])])).rejects.toThrow('bytes after the end');
    const twoColumns = Buffer.from(output);
    twoColumns.writeInt16BE(2, 19); // the first row's field count, right after the 19-byte header
    await expect(values([twoColumns])).rejects.toThrow('expected one column per row');
    const withNull = Buffer.from(output);
    withNull.writeInt32BE(-1, 21);
    await expect(values([withNull])).rejects.toThrow('NULL');
  });
});
