import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { buildForBench } from './bench-build';
import { parseBenchFlags, parseRow, type BenchRow } from './bench-row';

/**
 * `npm run bench [-- --only <section>[,<section>...]] [--sizes N1,N2] [--quick]`
 *
 * Runs every section below, one child process each, in this order, collects their `BENCH_ROW`
 * lines (protocol: bench-row.ts), prints them as one table with the targets of issue #11 and
 * PASS/FAIL, and writes them as JSON under bench-results/ (gitignored). Exit code 1 when a target
 * failed or a section could not run. What each figure means: docs/benchmarks.md.
 */

interface Section {
  name: string;
  /** A script of this folder; it receives the flags and prints BENCH_ROW lines. */
  file: string;
  /** A section another branch brings: skipped with a note while its file is absent. */
  optional?: boolean;
}

const SECTIONS: Section[] = [
  { name: 'export', file: 'export.section.ts' },
  { name: 'ingest', file: 'ingest.section.ts' },
  { name: 'graphql', file: 'graphql.section.ts' },
  { name: 'store-size', file: 'store-size.section.ts' },
  // Two workers vs one on a 1M-event job (issue #11 item 5; its own branch adds the file).
  { name: 'scale-out', file: 'scale-out.section.ts', optional: true },
  // New sections go here: a script that prints BENCH_ROW lines (bench-row.ts's emitRow).
];

const ROOT = path.join(__dirname, '..', '..');
const say = (text: string) => process.stdout.write(`${text}\n`);

function selectedSections(argv: readonly string[]): Section[] {
  const at = argv.indexOf('--only');
  if (at === -1) return SECTIONS;
  const names = (argv[at + 1] ?? '').split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !SECTIONS.some((section) => section.name === name));
  if (unknown.length > 0 || names.length === 0) throw new Error(`--only: unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.map((section) => section.name).join(', ')}`);
  return SECTIONS.filter((section) => names.includes(section.name));
}

/** The flags every section understands (see BenchFlags). */
function sectionArgs(argv: readonly string[]): string[] {
  const args: string[] = [];
  if (argv.includes('--quick')) args.push('--quick');
  const at = argv.indexOf('--sizes');
  if (at !== -1) args.push('--sizes', argv[at + 1] ?? '');
  return args;
}

async function runSection(section: Section, args: string[]): Promise<BenchRow[]> {
  const file = path.join(__dirname, section.file);
  if (!existsSync(file)) {
    if (section.optional) return [{ section: section.name, metric: 'section', value: null, unit: '', note: `${section.file} is not on this branch: not run` }];
    throw new Error(`section ${section.name}: ${file} is missing`);
  }
  say(`\n== bench section ${section.name} (${section.file}) ==`);
  const started = Date.now();
  // process.execArgv carries tsx's loader: sections are TypeScript, run like this file.
  const child = spawn(process.execPath, [...process.execArgv, file, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  const rows: BenchRow[] = [];
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let row: BenchRow | undefined;
    try {
      row = parseRow(line);
      if (row && row.section !== section.name) throw new Error(`a row of section ${row.section}: ${line}`);
    } catch (error) {
      rows.push({ section: section.name, metric: 'protocol', value: null, unit: '', pass: false, note: error instanceof Error ? error.message : String(error) });
      return;
    }
    if (!row) {
      say(line);
      return;
    }
    rows.push(row);
    say(`  ${row.metric}: ${row.value ?? 'n/a'} ${row.unit}${row.pass === undefined ? '' : row.pass ? '  PASS' : '  FAIL'}`);
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  say(`== ${section.name}: ${((Date.now() - started) / 1000).toFixed(0)} s, ${rows.length} rows, exit ${code} ==`);
  if (code !== 0)
    rows.push({ section: section.name, metric: 'section run', value: null, unit: '', pass: false, note: `the section exited with code ${code} (its output is above)` });
  return rows;
}

function formatValue(value: number | null | undefined, unit = ''): string {
  if (value === null || value === undefined) return 'n/a';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })}${unit ? ` ${unit}` : ''}`;
}

function printTable(rows: BenchRow[]): void {
  const header = ['section', 'metric', 'value', 'reference', 'reference value', 'ratio', 'target', 'result'];
  const cells = rows.map((row) => [
    row.section,
    row.metric,
    formatValue(row.value, row.unit),
    row.reference ?? '',
    row.reference ? (row.referenceValue === null ? 'MISSING' : formatValue(row.referenceValue, row.unit)) : '',
    row.ratio === undefined ? '' : formatValue(row.ratio),
    row.target ?? '',
    row.pass === undefined ? '' : row.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((row) => row[column].length)));
  const numeric = new Set([2, 4, 5]);
  const line = (values: string[]) => `| ${values.map((value, column) => (numeric.has(column) ? value.padStart(widths[column]) : value.padEnd(widths[column]))).join(' | ')} |`;
  say(line(header));
  say(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of cells) say(line(row));
  const notes = rows.filter((row) => row.note);
  if (notes.length > 0) say('');
  for (const row of notes) say(`note  ${row.section} / ${row.metric}: ${row.note}`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flags = parseBenchFlags(argv);
  const sections = selectedSections(argv);
  const startedAt = new Date();
  // The AWS SDK's nine-line Node 20 warning in every exporter, through its documented switch (as the tests do).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (!process.env.MALLOC_ARENA_MAX) say('note: MALLOC_ARENA_MAX is not set; `npm run bench` sets it to 2, as `npm start` and `npm run start:worker` do');
  // Once for every section, before the first: the measured processes run compiled.
  await buildForBench();
  const rows: BenchRow[] = [];
  for (const section of sections) rows.push(...(await runSection(section, sectionArgs(argv))));

  say(
    `\nnpm run bench: ${os.availableParallelism()} cores, Node ${process.version}, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'}${flags.quick ? ', --quick' : ''}; ` +
      `${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s (figures are noisy when other processes share the CPU)`,
  );
  printTable(rows);

  const directory = path.join(ROOT, 'bench-results');
  mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const failed = rows.filter((row) => row.pass === false);
  writeFileSync(
    file,
    `${JSON.stringify({ startedAt: startedAt.toISOString(), cores: os.availableParallelism(), node: process.version, flags, sections: sections.map((section) => section.name), rows }, null, 2)}\n`,
  );
  say(`\n${rows.filter((row) => row.pass === true).length} passed, ${failed.length} failed; rows written to ${path.relative(ROOT, file)}`);
  if (failed.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`npm run bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
