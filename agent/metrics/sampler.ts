import { basename } from 'node:path';
import type { MetricsConfig } from '../../shared/config/health.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { emitJson, fireAlert, resolveAlert, type EventSink } from '../events/sink.js';
import { CLK_TCK, cpuPercent, readAllProcs, readCpuTimes, readDiskStats, readFsUsage, readLoad, readMemInfo, readMounts, readNetDev, type CpuTimes, type ProcStat } from '../proc/proc.js';
import type { Sample, TopProcess } from '../../shared/metrics/sample.js';
import { metricValue, ruleTarget, ThresholdRule } from './thresholds.js';

/** While a threshold alert fires it is re-asserted this often. */
const REFIRE_MS = 60_000;

interface Reading {
  atMs: number;
  cpu: { total: CpuTimes; cores: CpuTimes[] };
  disk: Map<string, { readBytes: number; writeBytes: number }>;
  net: Map<string, { rxBytes: number; txBytes: number }>;
  procs: Map<number, ProcStat>;
}

/**
 * Samples /proc every `interval`: rates come from the difference with the previous reading,
 * so the first sample is taken one interval after start. Each sample becomes one `metric`
 * event, and threshold rules (with `for:`) fire and resolve alerts.
 */
export class MetricsSampler {
  readonly name = 'metrics';
  private timer: NodeJS.Timeout | undefined;
  private prev: Reading | undefined;
  private readonly rules: ThresholdRule[];
  private readonly lastFire = new Map<ThresholdRule, number>();
  private readonly log: Logger;
  private st: ComponentStateName = 'new';
  private mountCache: { atMs: number; mounts: Array<{ device: string; mount: string }> } | undefined;
  latest: Sample | undefined;
  readonly stats = { samples: 0, errors: 0, sampleMs: 0 };

  constructor(
    private readonly d: { cfg: MetricsConfig; sink: EventSink; logger: Logger; procRoot?: string },
  ) {
    this.log = d.logger.child({ component: 'metrics' });
    this.rules = d.cfg.thresholds.map((t) => new ThresholdRule(t));
  }

  start(): Promise<void> {
    if (!this.d.cfg.enabled) {
      this.st = 'stopped';
      return Promise.resolve();
    }
    try {
      this.prev = this.read();
    } catch (err) {
      this.log.error({ err }, 'cannot read /proc; metrics disabled');
      this.st = 'failed';
      return Promise.resolve();
    }
    this.timer = setInterval(() => this.tick(), this.d.cfg.interval);
    this.st = 'running';
    this.log.info({ interval: this.d.cfg.interval, thresholds: this.rules.length }, 'metrics sampling started');
    return Promise.resolve();
  }

  private mounts(now: number): Array<{ device: string; mount: string }> {
    // Mounts rarely change: re-read /proc/mounts once a minute, not every sample.
    if (!this.mountCache || now - this.mountCache.atMs > 60_000) {
      const all = readMounts(this.d.procRoot);
      const wanted = this.d.cfg.mounts;
      const mounts = wanted ? wanted.map((m) => all.find((x) => x.mount === m) ?? { device: '', mount: m }) : all;
      this.mountCache = { atMs: now, mounts };
    }
    return this.mountCache.mounts;
  }

  private read(): Reading {
    const root = this.d.procRoot;
    return { atMs: Date.now(), cpu: readCpuTimes(root), disk: readDiskStats(root), net: readNetDev(root), procs: this.d.cfg.top_processes > 0 ? readAllProcs(root) : new Map() };
  }

  private tick(): void {
    const t0 = performance.now();
    try {
      const s = this.sample();
      this.latest = s;
      emitJson(this.d.sink, 'metric', s);
      this.evaluate(s, Date.now());
      this.stats.samples++;
    } catch (err) {
      this.stats.errors++;
      this.log.error({ err }, 'metrics sample failed');
    }
    this.stats.sampleMs = Math.round((performance.now() - t0) * 10) / 10;
  }

  /** Takes a reading and turns it, with the previous one, into a sample. */
  sample(): Sample {
    const prev = this.prev ?? this.read();
    const cur = this.read();
    this.prev = cur;
    const secs = Math.max(0.001, (cur.atMs - prev.atMs) / 1000);
    const rate = (a: number, b: number) => Math.max(0, Math.round((b - a) / secs));
    const cpu = cpuPercent(prev.cpu.total, cur.cpu.total);
    const cores = cur.cpu.cores.map((c, i) => (prev.cpu.cores[i] ? cpuPercent(prev.cpu.cores[i]!, c).percent : 0));
    const load = readLoad(this.d.procRoot);
    const mem = readMemInfo(this.d.procRoot);
    const disks: Sample['disks'] = [];
    for (const m of this.mounts(cur.atMs)) {
      let u;
      try {
        u = readFsUsage(m.mount);
      } catch {
        continue;
      }
      const dev = basename(m.device);
      const a = prev.disk.get(dev);
      const b = cur.disk.get(dev);
      disks.push({
        mount: m.mount,
        device: m.device,
        total: u.totalBytes,
        used: u.usedBytes,
        used_percent: u.usedPercent,
        inodes_used_percent: u.inodesUsedPercent,
        read_bps: a && b ? rate(a.readBytes, b.readBytes) : 0,
        write_bps: a && b ? rate(a.writeBytes, b.writeBytes) : 0,
      });
    }
    const net: Sample['net'] = [];
    for (const [iface, b] of cur.net) {
      const a = prev.net.get(iface);
      net.push({ iface, rx_bps: a ? rate(a.rxBytes, b.rxBytes) : 0, tx_bps: a ? rate(a.txBytes, b.txBytes) : 0 });
    }
    const procs: TopProcess[] = [];
    for (const [pid, p] of cur.procs) {
      const before = prev.procs.get(pid);
      const ticks = before ? p.cpuTicks - before.cpuTicks : 0;
      procs.push({ pid, name: p.name, cpu: Math.round((ticks / CLK_TCK / secs) * 1000) / 10, rss: p.rssBytes });
    }
    const n = this.d.cfg.top_processes;
    const ncores = Math.max(1, cur.cpu.cores.length);
    return {
      interval_ms: cur.atMs - prev.atMs,
      cpu: { ...cpu, cores },
      load,
      load_per_core: Math.round((load[0] / ncores) * 100) / 100,
      mem: { total: mem.totalBytes, available: mem.availableBytes, used_percent: mem.usedPercent },
      swap: { total: mem.swapTotalBytes, used_percent: mem.swapUsedPercent },
      disks,
      net,
      top_cpu: n ? [...procs].sort((a, b) => b.cpu - a.cpu).slice(0, n) : [],
      top_rss: n ? [...procs].sort((a, b) => b.rss - a.rss).slice(0, n) : [],
    };
  }

  /** Feeds every threshold rule; fires/resolves alerts on changes. */
  evaluate(s: Sample, nowMs: number): void {
    for (const rule of this.rules) {
      const value = metricValue(s, rule.cfg);
      const change = rule.observe(value, nowMs);
      const labels = { alertname: rule.alertname, metric: rule.cfg.metric, target: ruleTarget(rule.cfg), severity: rule.cfg.severity };
      if (change?.to === 'firing') {
        this.log.warn({ alertname: rule.alertname, value }, 'threshold firing');
        this.lastFire.set(rule, nowMs);
        fireAlert(this.d.sink, { labels, annotations: { summary: rule.describe(change.value), value: String(change.value) }, resolveTimeoutS: 300 }, change.sinceMs);
      } else if (change?.to === 'resolved') {
        this.log.info({ alertname: rule.alertname, value }, 'threshold resolved');
        resolveAlert(this.d.sink, { labels, annotations: { value: String(value ?? '') }, resolveTimeoutS: 300 }, nowMs);
      } else if (rule.state === 'firing' && nowMs - (this.lastFire.get(rule) ?? 0) >= REFIRE_MS) {
        this.lastFire.set(rule, nowMs);
        fireAlert(this.d.sink, { labels, annotations: { summary: rule.describe(value!), value: String(value) }, resolveTimeoutS: 300 }, rule.activeSinceMs);
      }
    }
  }

  state(): { state: ComponentStateName; detail: string } {
    return { state: this.st, detail: `${this.stats.samples} samples, last took ${this.stats.sampleMs}ms` };
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.st === 'running') this.st = 'stopped';
    return Promise.resolve();
  }
}
