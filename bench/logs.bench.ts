/**
 * Log analysis benchmark (issue 5). In one run, on files built at bench time in a temp dir by
 * repeating the real loghub samples (≥ 1 GB each, 100 MB with --quick; deleted afterwards):
 *   (a) `opsctl logs analyze --preset log4j --json` on the HDFS-based file, and `--preset syslog`
 *       on the Linux+OpenSSH-based file, as real child processes (wall time, whole command);
 *   (b) `grep -c ERROR` and `awk '{c[$3]++}'` on the same files in the same run, for scale;
 *   (c) the live path: the agent's LogCollector tailing a file into a real SQLite outbox, once
 *       with stats only (the default) and once shipping every line as an event.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LogCollector } from '../agent/logs/collector.js';
import { OutboxStore } from '../agent/outbox/outbox-store.js';
import { logsSchema } from '../shared/config/logs.js';
import { createRootLogger } from '../shared/logger.js';
import { REPO_ROOT } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';
import { waitFor } from '../test/helpers/wait.js';
import type { Bench, BenchRow } from './types.js';

const logger = createRootLogger({ name: 'bench', level: 'warn', destination: 2 });
const FIX = join(REPO_ROOT, 'test', 'fixtures', 'loghub');

/** Repeats the samples (each ending in a newline) until the file reaches `bytes`; returns its line count. */
function build(file: string, samples: string[], bytes: number): number {
  const texts = samples.map((s) => {
    const t = readFileSync(join(FIX, s), 'utf8');
    return t.endsWith('\n') ? t : `${t}\n`;
  });
  const block = Buffer.from(texts.join(''));
  const blockLines = texts.reduce((n, t) => n + t.split('\n').length - 1, 0);
  const big = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((8 << 20) / block.length)) }, () => block));
  const bigLines = blockLines * (big.length / block.length);
  const fd = openSync(file, 'w');
  let size = 0;
  let lines = 0;
  try {
    while (size < bytes) {
      writeSync(fd, big);
      size += big.length;
      lines += bigLines;
    }
  } finally {
    closeSync(fd);
  }
  return lines;
}

const q = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;

/**
 * Runs a command to completion under bash's `time`, giving wall seconds and the child's CPU
 * seconds (user + sys): on a machine shared with other work the CPU figure is the steadier one.
 * grep's exit 1 ("no match") is a result, not a failure.
 */
function timed(cmd: string, args: string[]): { seconds: number; cpu: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='CPU %U %S'; time ${[cmd, ...args].map(q).join(' ')}`], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  if (!m || (r.status !== 0 && !(cmd === 'grep' && r.status === 1))) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { seconds, cpu: Number(m[1]) + Number(m[2]), stdout: r.stdout };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function rows(label: string, file: string, lines: number, preset: string): { rows: BenchRow[]; analyzeRate: number; analyzeCpuRate: number; parseCpuRate: number } {
  const bytes = statSync(file).size;
  const mb = bytes / 2 ** 20;
  const out: BenchRow[] = [];
  const a = timed(process.execPath, [join(REPO_ROOT, 'bin', 'opsctl.js'), 'logs', 'analyze', '--preset', preset, '--json', file]);
  const summary = JSON.parse(a.stdout) as { lines: number; parsed: number };
  if (summary.lines !== lines) throw new Error(`analyze counted ${summary.lines} lines, the file has ${lines}`);
  out.push({ name: `opsctl logs analyze --preset ${preset} --json (${label})`, rate: lines / a.seconds, unit: 'line', count: lines, seconds: a.seconds, note: `${(mb / a.seconds).toFixed(1)} MiB/s; by CPU time ${fmt(lines / a.cpu)} lines/s, ${(mb / a.cpu).toFixed(1)} MiB/s; ${summary.parsed} parsed, templates on` });
  const nt = timed(process.execPath, [join(REPO_ROOT, 'bin', 'opsctl.js'), 'logs', 'analyze', '--preset', preset, '--json', '--no-templates', file]);
  out.push({ name: `opsctl logs analyze --preset ${preset} --json --no-templates (${label})`, rate: lines / nt.seconds, unit: 'line', count: lines, seconds: nt.seconds, note: `${(mb / nt.seconds).toFixed(1)} MiB/s; by CPU time ${fmt(lines / nt.cpu)} lines/s, ${(mb / nt.cpu).toFixed(1)} MiB/s` });
  const g = timed('grep', ['-c', 'ERROR', file]);
  out.push({ name: `grep -c ERROR (${label})`, rate: lines / g.seconds, unit: 'line', count: lines, seconds: g.seconds, note: `${(mb / g.seconds).toFixed(1)} MiB/s; CPU ${g.cpu.toFixed(2)} s; ${g.stdout.trim()} matches` });
  const w = timed('awk', ['{c[$3]++} END {print length(c)}', file]);
  out.push({ name: `awk '{c[$3]++}' (${label})`, rate: lines / w.seconds, unit: 'line', count: lines, seconds: w.seconds, note: `${(mb / w.seconds).toFixed(1)} MiB/s; CPU ${w.cpu.toFixed(2)} s` });
  return { rows: out, analyzeRate: lines / a.seconds, analyzeCpuRate: lines / a.cpu, parseCpuRate: lines / nt.cpu };
}

async function live(dir: string, file: string, lines: number, ship: boolean): Promise<BenchRow> {
  const stateDir = join(dir, `state-${ship}`);
  mkdirSync(stateDir, { recursive: true });
  const outbox = new OutboxStore(stateDir, { hostId: 'bench', instanceId: 'bench' }, { maxEvents: 50_000_000, maxBytes: 64 * 2 ** 30 });
  const config = logsSchema.parse([{ name: 'bench', paths: [file], start_at: 'beginning', ship_lines: ship, parser: { preset: 'log4j' }, poll_interval: '100ms', scan_interval: '1h' }]);
  const c = new LogCollector({ config, sink: outbox, stateDir, logger, maxLinesPerTick: 20_000 });
  const t0 = performance.now();
  await c.start();
  await waitFor(() => c.sourceCounters().bench!.lines >= lines, { timeout: 3_600_000, interval: 100, what: 'all lines tailed' });
  const seconds = (performance.now() - t0) / 1000;
  await c.stop();
  const depth = outbox.stats().depth;
  outbox.close();
  const mb = statSync(file).size / 2 ** 20;
  return {
    name: `agent tail → parse → outbox, ${ship ? 'every line shipped as an event' : 'level stats only (default)'}`,
    rate: lines / seconds,
    unit: 'line',
    count: lines,
    seconds,
    note: `${(mb / seconds).toFixed(1)} MiB/s, outbox rows ${depth}`,
  };
}

const bench: Bench = {
  name: 'logs: offline analysis vs grep/awk, and the live tail path',
  async run({ quick }) {
    const dir = tempDir('opsfleet-bench-logs-');
    const size = quick ? 100 * 2 ** 20 : 2 ** 30;
    try {
      const hdfs = join(dir.path, 'hdfs-big.log');
      const hdfsLines = build(hdfs, ['HDFS/HDFS_2k.log'], size);
      const a = rows('HDFS/log4j', hdfs, hdfsLines, 'log4j');
      // The live path on a slice: shipping every line costs one outbox row per line.
      const slice = join(dir.path, 'hdfs-slice.log');
      const sliceLines = build(slice, ['HDFS/HDFS_2k.log'], quick ? 20 * 2 ** 20 : 100 * 2 ** 20);
      const liveStats = await live(dir.path, slice, sliceLines, false);
      const liveShip = await live(dir.path, slice, sliceLines, true);
      unlinkSync(slice);
      unlinkSync(hdfs);
      const sys = join(dir.path, 'syslog-big.log');
      const sysLines = build(sys, ['Linux/Linux_2k.log', 'OpenSSH/OpenSSH_2k.log'], size);
      const b = rows('Linux+OpenSSH/syslog', sys, sysLines, 'syslog');
      unlinkSync(sys);
      return {
        title: 'Log analysis (issue 5)',
        rows: [...a.rows, ...b.rows, liveStats, liveShip],
        notes: [
          `files of ${(size / 2 ** 20).toFixed(0)} MiB built from the loghub samples in a temp dir and deleted after; the analyze rows time the whole command (process start, reading, parsing, level counts, template masking, JSON output)`,
          `goal 1,000,000 lines/s for a preset on one core: log4j ${fmt(a.analyzeRate)} lines/s wall (${fmt(a.analyzeCpuRate)} by CPU time), syslog ${fmt(b.analyzeRate)} wall (${fmt(b.analyzeCpuRate)} by CPU time), templates on; without templates (read, parse, count levels) ${fmt(a.parseCpuRate)} and ${fmt(b.parseCpuRate)} lines/s by CPU time (Vector's published regex-parsing figure is 13 MiB/s, Fluent Bit's 20.5 MiB/s)`,
          `live tail (stats only, no templates) takes ${(a.analyzeRate / liveStats.rate).toFixed(2)}x the time of offline analyze and ${(a.rows[1]!.rate / liveStats.rate).toFixed(2)}x that of analyze --no-templates, by wall time (goal: within 2x); shipping lines batches up to 500 lines of a file per outbox event`,
        ],
      };
    } finally {
      dir.cleanup();
    }
  },
};
export default bench;
