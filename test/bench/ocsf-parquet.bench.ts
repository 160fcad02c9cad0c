import { fork } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { encodeOcsfParquet } from '../../src/delivery-format/ocsf/ocsf-parquet.encoder';
import { realisticUamEvent } from '../delivery-format/uam-sample-events';

/**
 * OCSF Parquet encoding against gzip NDJSON of the same event texts, for 100,000 and 1,000,000
 * events generated in-process (never all held: each text is made when the encoder asks for it).
 *
 *   npm run bench:ocsf-parquet            # both sizes
 *   npm run bench:ocsf-parquet -- 250000  # other sizes
 *
 * Each case runs in a child process of its own, so that one case's peak RSS is not the previous
 * case's. "generate only" is the cost of making the texts, included in the other two figures.
 * Not part of any test: figures depend on the machine and on what else runs on it.
 */

type Format = 'generate' | 'ndjson-gzip' | 'ocsf-parquet';

async function* eventTexts(count: number): AsyncIterable<string> {
  for (let index = 0; index < count; index += 1) yield JSON.stringify(realisticUamEvent(index));
}

async function runCase(format: Format, count: number): Promise<{ bytes: number }> {
  let bytes = 0;
  if (format === 'generate') {
    for await (const text of eventTexts(count)) bytes += text.length + 1;
  } else if (format === 'ndjson-gzip') {
    const lines = Readable.from(
      (async function* () {
        for await (const text of eventTexts(count)) yield `${text}\n`;
      })(),
    );
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback();
      },
    });
    await pipeline(lines, createGzip(), sink);
  } else {
    for await (const chunk of encodeOcsfParquet(eventTexts(count))) bytes += chunk.byteLength;
  }
  return { bytes };
}

/** In the child: runs one case, sampling RSS, and reports to the parent. */
async function child(format: Format, count: number): Promise<void> {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
  const started = process.hrtime.bigint();
  const { bytes } = await runCase(format, count);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage.rss(), process.resourceUsage().maxRSS * 1024);
  process.send!({ format, count, seconds, bytes, peakRss });
}

async function parent(counts: number[]): Promise<void> {
  console.log(`OCSF Parquet vs gzip NDJSON (Node ${process.version}; noisy if other work shares the CPU)`);
  console.log('events     format         events/s    seconds   output MB   peak RSS MB');
  for (const count of counts) {
    for (const format of ['generate', 'ndjson-gzip', 'ocsf-parquet'] as const) {
      const result = await new Promise<{ seconds: number; bytes: number; peakRss: number }>((resolve, reject) => {
        const worker = fork(__filename, ['--case', format, String(count)]);
        worker.once('message', (message) => resolve(message as { seconds: number; bytes: number; peakRss: number }));
        worker.once('error', reject);
        worker.once('exit', (code) => code !== 0 && reject(new Error(`${format} ${count}: exit ${code}`)));
      });
      console.log(
        [
          String(count).padEnd(10),
          format.padEnd(14),
          String(Math.round(count / result.seconds)).padStart(9),
          result.seconds.toFixed(1).padStart(10),
          (result.bytes / 1e6).toFixed(1).padStart(11),
          (result.peakRss / 1e6).toFixed(0).padStart(13),
        ].join(' '),
      );
    }
  }
}

const args = process.argv.slice(2);
if (args[0] === '--case') {
  child(args[1] as Format, Number(args[2])).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  parent(args.length > 0 ? args.map(Number) : [100_000, 1_000_000]).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
