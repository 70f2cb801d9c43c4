import { readFileSync } from 'node:fs';
import type { CheckOf } from '../../shared/config/health.js';
import { sleep } from '../../shared/lifecycle.js';
import { compileSafeRegex, type SafeRegex } from '../../shared/regex.js';
import { CLK_TCK, listPids, readCmdline, readProcStat, type ProcStat } from '../proc/proc.js';
import { fail, ok, since, type CheckKind, type ProbeResult } from './types.js';

/** Window over which max_cpu_percent is measured (two /proc readings this far apart). */
const CPU_WINDOW_MS = 500;

/** A zombie (exited, not yet reaped) or a dead entry holds no running program: it is not "up". */
const NOT_RUNNING = new Set(['Z', 'X', 'x']);

/** Compiled cmdline patterns by source: user patterns run on RE2 (linear time), compiled once. */
const compiled = new Map<string, SafeRegex>();
function cmdlineRegex(pattern: string): SafeRegex {
  let re = compiled.get(pattern);
  if (!re) {
    re = compileSafeRegex(pattern);
    compiled.set(pattern, re);
  }
  return re;
}

function matching(cfg: CheckOf<'process'>): { procs: ProcStat[]; zombies: number } {
  const m = cfg.match;
  let pids: number[];
  if (m.pid_file !== undefined) {
    let pid: number;
    try {
      pid = Number(readFileSync(m.pid_file, 'utf8').trim());
    } catch {
      return { procs: [], zombies: 0 };
    }
    pids = Number.isInteger(pid) && pid > 0 ? [pid] : [];
  } else {
    pids = listPids();
  }
  const re = m.cmdline !== undefined ? cmdlineRegex(m.cmdline) : undefined;
  const out: ProcStat[] = [];
  let zombies = 0;
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const s = readProcStat(pid);
    if (!s) continue;
    if (m.name !== undefined && s.name !== m.name) continue;
    // A zombie's cmdline is empty, so only name and pid_file matches can meet one.
    if (re && !re.test(readCmdline(pid))) continue;
    if (NOT_RUNNING.has(s.state)) {
      zombies++;
      continue;
    }
    out.push(s);
  }
  return { procs: out, zombies };
}

/** Process presence (count bounds) and, optionally, its CPU and RSS, read from /proc. */
export const processCheck: CheckKind<'process'> = {
  type: 'process',
  async probe(cfg: CheckOf<'process'>, signal: AbortSignal): Promise<ProbeResult> {
    const start = performance.now();
    const { procs: first, zombies } = matching(cfg);
    const n = first.length;
    const z = zombies ? ` (and ${zombies} zombie(s), not counted)` : '';
    if (n < cfg.min_count) return fail(`${n} matching process(es)${z}, want at least ${cfg.min_count}`, since(start));
    if (cfg.max_count !== undefined && n > cfg.max_count) return fail(`${n} matching process(es), want at most ${cfg.max_count}`, since(start));
    const rss = first.reduce((a, p) => a + p.rssBytes, 0);
    if (cfg.max_rss !== undefined && rss > cfg.max_rss) return fail(`RSS ${Math.round(rss / 1048576)} MiB over ${Math.round(cfg.max_rss / 1048576)} MiB`, since(start));
    if (cfg.max_cpu_percent !== undefined) {
      const t0 = performance.now();
      await sleep(Math.min(CPU_WINDOW_MS, cfg.timeout / 2), signal);
      if (signal.aborted) return fail('timed out', since(start));
      const secs = (performance.now() - t0) / 1000;
      let ticks = 0;
      for (const p of first) {
        const again = readProcStat(p.pid);
        if (again) ticks += again.cpuTicks - p.cpuTicks;
      }
      const pct = Math.round((ticks / CLK_TCK / secs) * 1000) / 10;
      if (pct > cfg.max_cpu_percent) return fail(`CPU ${pct}% over ${cfg.max_cpu_percent}%`, since(start));
      return ok(`${n} process(es), CPU ${pct}%, RSS ${Math.round(rss / 1048576)} MiB`, since(start));
    }
    return ok(`${n} process(es), RSS ${Math.round(rss / 1048576)} MiB`, since(start));
  },
};
