import { readFileSync } from 'node:fs';
/**
 * The row protocol between `npm run bench` (bench.ts) and its sections. A section is a script run
 * as a child process; every figure it measures is one line on its stdout:
 *
 *     BENCH_ROW {"section":"export","metric":"events/s at 1M","value":61234,"unit":"events/s",...}
 *
 * Anything else it prints (progress, notes) is passed through to the terminal as it is. A section
 * exits 0 when it could measure (whether targets passed or not) and non-zero when it could not; the
 * orchestrator decides the overall verdict from the rows' `pass` fields.
 */
export interface BenchRow {
  /** The section's name, as listed in bench.ts's SECTIONS. */
  section: string;
  /** What was measured, short and unique within the section ("events/s at 1,000,000"). */
  metric: string;
  /** The figure; null when it could not be measured (then `note` says why). */
  value: number | null;
  unit: string;
  /** What the figure is compared with ("COPY | pigz -6 -p 2"). */
  reference?: string;
  /** The reference's own figure, in the same unit as `value` (never invented: absent when the reference could not run). */
  referenceValue?: number | null;
  /** value / referenceValue (or the section's own ratio when the unit says so). */
  ratio?: number | null;
  /** The target from issue #11, as text ("ratio >= 1.0", "<= 192 MB"). */
  target?: string;
  /** Whether the target is met; absent for a figure without a target. */
  pass?: boolean;
  /** A remark printed under the table (what was missing, how it was measured). */
  note?: string;
}

export const BENCH_ROW_PREFIX = 'BENCH_ROW ';

/** Prints one row for the orchestrator (and readable enough on its own). */
export function emitRow(row: BenchRow): void {
  process.stdout.write(`${BENCH_ROW_PREFIX}${JSON.stringify(row)}\n`);
}

/** Parses a line of a section's output: the row, or undefined for any other line. */
export function parseRow(line: string): BenchRow | undefined {
  if (!line.startsWith(BENCH_ROW_PREFIX)) return undefined;
  const row = JSON.parse(line.slice(BENCH_ROW_PREFIX.length)) as BenchRow;
  if (typeof row.section !== 'string' || typeof row.metric !== 'string' || typeof row.unit !== 'string' || (row.value !== null && typeof row.value !== 'number')) {
    throw new Error(`malformed BENCH_ROW: ${line}`);
  }
  return row;
}

/** The flags bench.ts passes on to every section (`--quick`, `--sizes 100000,1000000`). */
export interface BenchFlags {
  quick: boolean;
  sizes?: number[];
}

export function parseBenchFlags(argv: readonly string[]): BenchFlags {
  const at = argv.indexOf('--sizes');
  const sizes =
    at === -1
      ? undefined
      : (argv[at + 1] ?? '').split(',').map((text) => {
          const value = Number(text.trim().replace(/_/g, ''));
          if (!Number.isInteger(value) || value <= 0) throw new Error(`--sizes needs positive integers separated by commas, got "${argv[at + 1] ?? ''}"`);
          return value;
        });
  return { quick: argv.includes('--quick'), sizes };
}

/** Progress lines: stderr, so they never mix with rows and show at once. */
export const say = (text: string): void => void process.stderr.write(`${text}\n`);
export const mb = (bytes: number): number => bytes / 1024 / 1024;
export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

/** The value at quantile q (0..1) of unsorted samples. */
export function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * CPU time (user + system) a process has used so far, in milliseconds, from /proc (Linux); undefined
 * elsewhere. Less sensitive than wall time to other processes sharing the cores.
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    // Fields after the command name (which may contain spaces, hence the last ')').
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100; // USER_HZ, 100 on every Linux Node supports
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return undefined;
  }
}
