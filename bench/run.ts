/**
 * Runs benchmarks: every bench/*.bench.ts, or only those whose file name contains one of the
 * words given on the command line. Prints a table per benchmark and appends a dated section
 * with the machine description to docs/BENCHMARKS.md (unless --no-write).
 *
 *   npm run bench                      # all
 *   npm run bench -- ingest            # bench/ingest.bench.ts only
 *   npm run bench -- --quick --no-write
 *   npm run bench -- soak --minutes 2 --baseline REF
 */
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, release } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Table from 'cli-table3';
import type { Bench, BenchResult } from './types.js';

const benchDir = new URL('.', import.meta.url).pathname;
const docFile = join(benchDir, '..', 'docs', 'BENCHMARKS.md');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const write = !args.includes('--no-write');
// Options with a value (`--minutes 2`, `--baseline REF`) are read by the benches themselves.
const VALUE_OPTIONS = new Set(['--minutes', '--baseline', '--agents', '--window', '--concurrency', '--variants', '--sim-error-stacks', '--hosts', '--seconds', '--rounds', '--settings', '--linger', '--runs', '--prewarm']);
const filters = args.filter((a, i) => !a.startsWith('--') && !VALUE_OPTIONS.has(args[i - 1] ?? ''));

const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`bench: no bench/*.bench.ts matches ${filters.join(' ')}\n`);
  process.exit(2);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function machine(): string {
  const c = cpus();
  return `${c.length} cores (${c[0]?.model ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}, load average at start ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

function markdown(file: string, r: BenchResult, startedAt: Date, machineText: string): string {
  const lines = [
    '',
    `## ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC — ${r.title} (\`bench/${file}\`)`,
    '',
    `Machine: ${machineText}.`,
    '',
    '| measurement | rate | count | seconds | note |',
    '| --- | ---: | ---: | ---: | --- |',
    ...r.rows.map((row) => `| ${row.name} | ${fmt(row.rate)} ${row.unit}/s | ${fmt(row.count)} | ${row.seconds.toFixed(2)} | ${row.note ?? ''} |`),
    '',
    ...r.notes.map((n) => `- ${n}`),
    '',
  ];
  return lines.join('\n');
}

let failed = false;
for (const file of files) {
  const mod = (await import(pathToFileURL(join(benchDir, file)).href)) as { default: Bench };
  const startedAt = new Date();
  const machineText = machine();
  process.stdout.write(`bench: ${mod.default.name} (${file}) on ${machineText}\n`);
  let result: BenchResult;
  try {
    result = await mod.default.run({ quick });
  } catch (err) {
    failed = true;
    process.stderr.write(`bench: ${file} failed: ${(err as Error).stack ?? String(err)}\n`);
    continue;
  }
  const t = new Table({ head: ['measurement', 'rate', 'count', 'seconds', 'note'], style: { head: [], border: [] } });
  for (const row of result.rows) t.push([row.name, `${fmt(row.rate)} ${row.unit}/s`, fmt(row.count), row.seconds.toFixed(2), row.note ?? '']);
  process.stdout.write(`${t.toString()}\n`);
  for (const n of result.notes) process.stdout.write(`  - ${n}\n`);
  if (write) {
    if (!existsSync(docFile)) writeFileSync(docFile, '# Benchmarks\n\nFigures appended by `npm run bench` (bench/run.ts), newest last. Each section is one run.\n');
    appendFileSync(docFile, markdown(file, result, startedAt, machineText));
    process.stdout.write(`bench: appended to ${docFile}\n`);
  }
}
process.exit(failed ? 1 : 0);
