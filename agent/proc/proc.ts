import { readdirSync, readFileSync, statfsSync } from 'node:fs';

/**
 * Readers of /proc and statfs: plain file reads, far cheaper than spawning tools or
 * `systeminformation` (whose processes() costs 80–500 ms). Each returns raw counters; rates and
 * percentages come from two readings (see sampler.ts).
 */

/** Linux USER_HZ: /proc counts CPU time in these ticks (100 on every mainstream arch). */
export const CLK_TCK = 100;
/** Page size for RSS in /proc/PID/stat (4 KiB on x86-64 and most arm64 kernels). */
export const PAGE_SIZE = 4096;

export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** /proc/stat: the total line (`cpu`) and one per core (`cpu0`...). */
export function readCpuTimes(procRoot = '/proc'): { total: CpuTimes; cores: CpuTimes[] } {
  const lines = readFileSync(`${procRoot}/stat`, 'utf8').split('\n');
  let total: CpuTimes | undefined;
  const cores: CpuTimes[] = [];
  for (const line of lines) {
    if (!line.startsWith('cpu')) continue;
    const f = line.trim().split(/\s+/);
    const n = f.slice(1).map(Number);
    const t: CpuTimes = { user: n[0] ?? 0, nice: n[1] ?? 0, system: n[2] ?? 0, idle: n[3] ?? 0, iowait: n[4] ?? 0, irq: n[5] ?? 0, softirq: n[6] ?? 0, steal: n[7] ?? 0 };
    if (f[0] === 'cpu') total = t;
    else cores.push(t);
  }
  if (!total) throw new Error('/proc/stat has no cpu line');
  return { total, cores };
}

export interface CpuPercent {
  percent: number;
  iowait: number;
  steal: number;
}

/** Busy share between two readings, in percent of the CPUs covered. */
export function cpuPercent(a: CpuTimes, b: CpuTimes): CpuPercent {
  const sum = (t: CpuTimes) => t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
  const dt = sum(b) - sum(a);
  if (dt <= 0) return { percent: 0, iowait: 0, steal: 0 };
  const idle = b.idle + b.iowait - (a.idle + a.iowait);
  const r = (x: number) => Math.round((x / dt) * 1000) / 10;
  return { percent: r(dt - idle), iowait: r(b.iowait - a.iowait), steal: r(b.steal - a.steal) };
}

export function readLoad(procRoot = '/proc'): [number, number, number] {
  const f = readFileSync(`${procRoot}/loadavg`, 'utf8').split(' ');
  return [Number(f[0]), Number(f[1]), Number(f[2])];
}

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
  usedPercent: number;
  swapTotalBytes: number;
  swapUsedPercent: number;
}

export function readMemInfo(procRoot = '/proc'): MemInfo {
  const kv = new Map<string, number>();
  for (const line of readFileSync(`${procRoot}/meminfo`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) kv.set(m[1]!, Number(m[2]) * 1024);
  }
  const total = kv.get('MemTotal') ?? 0;
  const avail = kv.get('MemAvailable') ?? kv.get('MemFree') ?? 0;
  const swapTotal = kv.get('SwapTotal') ?? 0;
  const swapFree = kv.get('SwapFree') ?? 0;
  const pct = (used: number, of: number) => (of > 0 ? Math.round((used / of) * 1000) / 10 : 0);
  return { totalBytes: total, availableBytes: avail, usedPercent: pct(total - avail, total), swapTotalBytes: swapTotal, swapUsedPercent: pct(swapTotal - swapFree, swapTotal) };
}

export interface MountEntry {
  device: string;
  mount: string;
  fstype: string;
}

/** Real filesystems (backed by a /dev block device), one entry per device. */
export function readMounts(procRoot = '/proc'): MountEntry[] {
  const out: MountEntry[] = [];
  const seen = new Set<string>();
  for (const line of readFileSync(`${procRoot}/mounts`, 'utf8').split('\n')) {
    const [device, mount, fstype] = line.split(' ');
    if (!device || !mount || !fstype || !device.startsWith('/dev/') || seen.has(device)) continue;
    if (fstype === 'squashfs' || fstype === 'iso9660') continue;
    seen.add(device);
    out.push({ device, mount: mount.replace(/\\040/g, ' '), fstype });
  }
  return out;
}

export interface FsUsage {
  totalBytes: number;
  usedBytes: number;
  usedPercent: number;
  inodesUsedPercent: number;
}

/** Usage as `df` computes it: used / (used + available to unprivileged users). */
export function readFsUsage(path: string): FsUsage {
  const s = statfsSync(path);
  const used = (s.blocks - s.bfree) * s.bsize;
  const avail = s.bavail * s.bsize;
  const inodesUsed = s.files - s.ffree;
  const pct = (x: number, of: number) => (of > 0 ? Math.round((x / of) * 1000) / 10 : 0);
  return { totalBytes: s.blocks * s.bsize, usedBytes: used, usedPercent: pct(used, used + avail), inodesUsedPercent: pct(inodesUsed, s.files) };
}

/** /proc/diskstats: sectors (512 bytes) read and written per device name. */
export function readDiskStats(procRoot = '/proc'): Map<string, { readBytes: number; writeBytes: number }> {
  const out = new Map<string, { readBytes: number; writeBytes: number }>();
  for (const line of readFileSync(`${procRoot}/diskstats`, 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    out.set(f[2]!, { readBytes: Number(f[5]) * 512, writeBytes: Number(f[9]) * 512 });
  }
  return out;
}

/** /proc/net/dev: cumulative bytes per interface. */
export function readNetDev(procRoot = '/proc'): Map<string, { rxBytes: number; txBytes: number }> {
  const out = new Map<string, { rxBytes: number; txBytes: number }>();
  for (const line of readFileSync(`${procRoot}/net/dev`, 'utf8').split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    out.set(m[1]!, { rxBytes: f[0] ?? 0, txBytes: f[8] ?? 0 });
  }
  return out;
}

export interface ProcStat {
  pid: number;
  name: string;
  /** One letter of /proc/PID/stat field 3: R running, S sleeping, Z zombie, X dead... */
  state: string;
  /** utime + stime in CLK_TCK ticks. */
  cpuTicks: number;
  rssBytes: number;
  /** Process group id (field 5). */
  pgrp: number;
  /** Start time in clock ticks since boot (field 22): with the PID, names one process across PID reuse. */
  startTicks: number;
}

/** One process's /proc/PID/stat; undefined when it is gone (a race every reader must accept). */
export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: it ends at the LAST ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): utime is field 14, stime 15, rss 24.
  // f[0] is field 3 (state): pgrp is field 5, starttime 22.
  return { pid, name: text.slice(open + 1, close), state: f[0] ?? '', cpuTicks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * PAGE_SIZE, pgrp: Number(f[2]), startTicks: Number(f[19]) };
}

export function listPids(procRoot = '/proc'): number[] {
  const out: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(name));
  }
  return out;
}

export function readCmdline(pid: number, procRoot = '/proc'): string {
  try {
    return readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Every process's stat, keyed by PID. */
export function readAllProcs(procRoot = '/proc'): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const pid of listPids(procRoot)) {
    const s = readProcStat(pid, procRoot);
    if (s) out.set(pid, s);
  }
  return out;
}
