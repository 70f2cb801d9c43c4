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
import { loadavg } from 'node:os';
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
 * Runs a command to completion under /usr/bin/time, giving wall seconds, the child's CPU seconds
 * (user + sys, all threads) and its peak RSS: on a machine shared with other work the CPU figure
 * is the steadier one. grep's exit 1 ("no match") is a result, not a failure.
 */
function timed(cmd: string, args: string[]): { seconds: number; cpu: number; rssMiB: number; stdout: string; instructions: number | undefined } {
  const t0 = performance.now();
  // perf counts instructions where the machine exposes the counter (not in most VMs): a figure
  // the other engineers' load on the shared cores does not change.
  const argv = PERF ? ['perf', 'stat', '-x', ',', '-e', 'instructions', '/usr/bin/time', '-f', 'TIMED %U %S %M', cmd, ...args] : ['/usr/bin/time', '-f', 'TIMED %U %S %M', cmd, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, OPSFLEET_RUNTIME: 'dist' } });
  const seconds = (performance.now() - t0) / 1000;
  const m = /TIMED ([\d.]+) ([\d.]+) (\d+)\s*$/m.exec(r.stderr);
  if (!m || (r.status !== 0 && !(cmd === 'grep' && r.status === 1))) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const ins = /^(\d+),,instructions/m.exec(r.stderr);
  return { seconds, cpu: Number(m[1]) + Number(m[2]), rssMiB: Number(m[3]) / 1024, stdout: r.stdout, instructions: ins ? Number(ins[1]) : undefined };
}

/** True when `perf stat -e instructions` gives a count here (it says "<not supported>" in most VMs). */
function perfWorks(): boolean {
  const r = spawnSync('perf', ['stat', '-x', ',', '-e', 'instructions', 'true'], { encoding: 'utf8' });
  return r.status === 0 && /^\d+,,instructions/m.test(r.stderr);
}
let PERF = false;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface Rows {
  rows: BenchRow[];
  analyzeRate: number;
  analyzeCpuRate: number;
  oneThreadRate: number;
  awkRate: number;
  awkCpuRate: number;
  oneThreadCpuRate: number;
  /** awk's instructions / analyze's, when perf counts them. */
  insRatio: number | undefined;
  rssMiB: number;
  templates: number;
}

/** The whole command as users run it: auto detection (no preset), templates on, JSON out. */
function rows(label: string, file: string, lines: number): Rows {
  const bytes = statSync(file).size;
  const mb = bytes / 2 ** 20;
  const out: BenchRow[] = [];
  const opsctl = join(REPO_ROOT, 'bin', 'opsctl.js');
  const a = timed(process.execPath, [opsctl, 'logs', 'analyze', '--json', file]);
  const ins = (x: { instructions: number | undefined }) => (x.instructions === undefined ? '' : `; ${(x.instructions / lines).toFixed(0)} instructions/line`);
  const summary = JSON.parse(a.stdout) as { lines: number; parsed: number; formats: Record<string, string>; templates: unknown[]; templatesOther: number };
  if (summary.lines !== lines) throw new Error(`analyze counted ${summary.lines} lines, the file has ${lines}`);
  out.push({ name: `opsctl logs analyze --json, auto, templates, worker threads (${label})`, rate: lines / a.seconds, unit: 'line', count: lines, seconds: a.seconds, note: `${(mb / a.seconds).toFixed(1)} MiB/s; CPU ${a.cpu.toFixed(2)} s (${fmt(lines / a.cpu)} lines/s of CPU, ${((a.cpu / lines) * 1e6).toFixed(2)} µs/line)${ins(a)}; peak RSS ${a.rssMiB.toFixed(0)} MiB; format ${Object.values(summary.formats).join()}; ${summary.parsed} parsed` });
  const one = timed(process.execPath, [opsctl, 'logs', 'analyze', '--json', '--workers', '1', file]);
  out.push({ name: `opsctl logs analyze --json --workers 1 (one thread, baseline) (${label})`, rate: lines / one.seconds, unit: 'line', count: lines, seconds: one.seconds, note: `CPU ${one.cpu.toFixed(2)} s (${fmt(lines / one.cpu)} lines/s of CPU, ${((one.cpu / lines) * 1e6).toFixed(2)} µs/line)${ins(one)}; peak RSS ${one.rssMiB.toFixed(0)} MiB` });
  const nt = timed(process.execPath, [opsctl, 'logs', 'analyze', '--json', '--no-templates', file]);
  out.push({ name: `opsctl logs analyze --json --no-templates (${label})`, rate: lines / nt.seconds, unit: 'line', count: lines, seconds: nt.seconds, note: `CPU ${nt.cpu.toFixed(2)} s (${fmt(lines / nt.cpu)} lines/s of CPU)` });
  const w = timed('awk', ['{c[$3]++} END {print length(c)}', file]);
  out.push({ name: `awk '{c[$3]++}' (${label})`, rate: lines / w.seconds, unit: 'line', count: lines, seconds: w.seconds, note: `${(mb / w.seconds).toFixed(1)} MiB/s; CPU ${w.cpu.toFixed(2)} s (${fmt(lines / w.cpu)} lines/s of CPU, ${((w.cpu / lines) * 1e6).toFixed(2)} µs/line)${ins(w)}` });
  const insRatio = a.instructions !== undefined && w.instructions !== undefined ? w.instructions / a.instructions : undefined;
  return { rows: out, analyzeRate: lines / a.seconds, analyzeCpuRate: lines / a.cpu, oneThreadRate: lines / one.seconds, oneThreadCpuRate: lines / one.cpu, awkRate: lines / w.seconds, awkCpuRate: lines / w.cpu, rssMiB: a.rssMiB, templates: summary.templates.length, insRatio };
}

async function live(dir: string, file: string, lines: number, ship: boolean): Promise<BenchRow & { cpu: number }> {
  const stateDir = join(dir, `state-${ship}`);
  mkdirSync(stateDir, { recursive: true });
  const outbox = new OutboxStore(stateDir, { hostId: 'bench', instanceId: 'bench' }, { maxEvents: 50_000_000, maxBytes: 64 * 2 ** 30 });
  const config = logsSchema.parse([{ name: 'bench', paths: [file], start_at: 'beginning', ship_lines: ship, parser: { preset: 'log4j' }, poll_interval: '100ms', scan_interval: '1h' }]);
  const c = new LogCollector({ config, sink: outbox, stateDir, logger, maxLinesPerTick: 20_000 });
  const t0 = performance.now();
  // CPU of this process while it tails (the collector runs here): steadier than wall under load.
  const cpu0 = process.cpuUsage();
  await c.start();
  await waitFor(() => c.sourceCounters().bench!.lines >= lines, { timeout: 3_600_000, interval: 100, what: 'all lines tailed' });
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
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
    note: `${(mb / seconds).toFixed(1)} MiB/s, outbox rows ${depth}; CPU ${cpu.toFixed(2)} s (${((cpu / lines) * 1e6).toFixed(2)} µs/line)`,
    cpu,
  };
}

const bench: Bench = {
  name: 'logs: whole analyze command vs awk in the same run, and the live tail path',
  async run({ quick }) {
    // The shipped bundle, as users run it, with the worker bundle beside it (scripts/build.mjs).
    const b0 = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], { cwd: REPO_ROOT, encoding: 'utf8' });
    if (b0.status !== 0) throw new Error(`npm run build failed: ${b0.stderr}`);
    PERF = perfWorks();
    const dir = tempDir('opsfleet-bench-logs-');
    const size = quick ? 200 * 2 ** 20 : 2 ** 30;
    try {
      const hdfs = join(dir.path, 'hdfs-big.log');
      const hdfsLines = build(hdfs, ['HDFS/HDFS_2k.log'], size);
      const load0 = loadavg()[0]!;
      const a = rows('HDFS/log4j', hdfs, hdfsLines);
      // The live path on a slice: per line it should cost at most 1.2x the offline analysis.
      const slice = join(dir.path, 'hdfs-slice.log');
      const sliceLines = build(slice, ['HDFS/HDFS_2k.log'], quick ? 20 * 2 ** 20 : 100 * 2 ** 20);
      const liveStats = await live(dir.path, slice, sliceLines, false);
      const offlineSlice = timed(process.execPath, [join(REPO_ROOT, 'bin', 'opsctl.js'), 'logs', 'analyze', '--json', '--workers', '1', '--no-templates', '--preset', 'log4j', slice]);
      unlinkSync(slice);
      unlinkSync(hdfs);
      const sys = join(dir.path, 'syslog-big.log');
      const sysLines = build(sys, ['Linux/Linux_2k.log', 'OpenSSH/OpenSSH_2k.log'], size);
      const b = rows('Linux+OpenSSH/syslog', sys, sysLines);
      unlinkSync(sys);
      const load1 = loadavg()[0]!;
      const offlineRate = sliceLines / offlineSlice.seconds;
      return {
        title: 'Log analysis: auto formats, Drain templates, worker threads (issue 15)',
        rows: [...a.rows, ...b.rows, liveStats, { name: 'offline analyze of the same slice, one thread, --preset log4j --no-templates (what the tail does per line)', rate: offlineRate, unit: 'line', count: sliceLines, seconds: offlineSlice.seconds, note: `CPU ${offlineSlice.cpu.toFixed(2)} s (${((offlineSlice.cpu / sliceLines) * 1e6).toFixed(2)} µs/line)` }],
        notes: [
          `files of ${(size / 2 ** 20).toFixed(0)} MiB built from the loghub samples in a temp dir and deleted after; the analyze rows time the whole command run from the esbuild bundle (dist/opsctl.js, workers on dist/analyze-worker.js, built by this run): process start, reading, detection, parsing, level counts, template mining, JSON output; load average ${load0.toFixed(1)} at the start and ${load1.toFixed(1)} at the end on 2 cores shared with other engineers, so wall figures swing; CPU seconds are the steadier figure`,
          `analyze vs awk, same file, same run: HDFS ${(a.analyzeRate / a.awkRate).toFixed(2)}x by wall (${fmt(a.analyzeRate)} vs ${fmt(a.awkRate)} lines/s), ${(a.analyzeCpuRate / a.awkCpuRate).toFixed(2)}x by CPU (${(a.oneThreadCpuRate / a.awkCpuRate).toFixed(2)}x in one thread); syslog ${(b.analyzeRate / b.awkRate).toFixed(2)}x by wall (${fmt(b.analyzeRate)} vs ${fmt(b.awkRate)} lines/s), ${(b.analyzeCpuRate / b.awkCpuRate).toFixed(2)}x by CPU (${(b.oneThreadCpuRate / b.awkCpuRate).toFixed(2)}x in one thread) (goal 0.4x and 1,000,000 lines/s)`,
          PERF ? `by instructions (perf stat, same run): HDFS ${a.insRatio?.toFixed(2)}x awk, syslog ${b.insRatio?.toFixed(2)}x awk` : "instruction counts: perf stat -e instructions answers <not supported> on this VM (no PMU exposed), so the load-independent comparison is CPU seconds only",
          `worker threads vs one thread, same run: HDFS ${(a.analyzeRate / a.oneThreadRate).toFixed(2)}x, syslog ${(b.analyzeRate / b.oneThreadRate).toFixed(2)}x by wall`,
          `memory: peak RSS ${a.rssMiB.toFixed(0)} MiB (HDFS) and ${b.rssMiB.toFixed(0)} MiB (syslog) for ${(size / 2 ** 20).toFixed(0)} MiB files; chunks are 8 MiB with at most 2 per worker in flight and the template table is capped (20,000 clusters, 200,000 cached keys), so a 5 GB file needs the same memory (measured separately on a 5 GiB file: see docs/logs.md, Performance)`,
          `live tail (stats only) vs offline parse of the same lines in one thread (--preset log4j --no-templates: the byte path with the log4j scanner for the 100 MiB slice of a full run, the string path for the 20 MiB slice of --quick, under the 32 MiB split size): ${(offlineRate / liveStats.rate).toFixed(2)}x the time per line (goal: within 1.2x) by wall, ${(liveStats.cpu / offlineSlice.cpu).toFixed(2)}x by CPU (the tail's CPU includes the collector's polling and the outbox; the offline figure includes its process start); against the offline byte fast path (the HDFS --workers 1 row) the tail costs ${((liveStats.cpu / sliceLines) * a.oneThreadCpuRate).toFixed(2)}x the CPU per line (the tail counts a line from its bytes with the same scanner when it is neither shipped nor at a level a rule watches)`,
        ],
      };
    } finally {
      dir.cleanup();
    }
  },
};
export default bench;
