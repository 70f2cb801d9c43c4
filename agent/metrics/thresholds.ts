import type { ThresholdConfig } from '../../shared/config/health.js';
import { formatDuration } from '../../shared/duration.js';
import type { Sample } from '../../shared/metrics/sample.js';

export type RuleState = 'inactive' | 'pending' | 'firing';

export interface RuleChange {
  to: 'firing' | 'resolved';
  value: number;
  /** When the condition started holding (firing) or stopped (resolved). */
  sinceMs: number;
}

/** The alert name a rule raises: its own, or derived ("cpu.percent" above → "HighCpuPercent"). */
export function ruleAlertName(r: ThresholdConfig): string {
  if (r.alertname) return r.alertname;
  const words = r.metric.split(/[._]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1));
  return `${r.above !== undefined ? 'High' : 'Low'}${words.join('')}`;
}

/** What the rule watches, for labels and messages: "disk.used_percent{mount=/}". */
export function ruleTarget(r: ThresholdConfig): string {
  if (r.metric.startsWith('disk.')) return `${r.metric}{mount=${r.mount ?? '/'}}`;
  if (r.metric.startsWith('net.')) return `${r.metric}{interface=${r.interface ?? 'all'}}`;
  return r.metric;
}

/**
 * One threshold rule with Prometheus `for:` semantics: inactive → pending when the condition
 * first holds, → firing once it has held continuously for `for`; one sample where it does not
 * hold resets pending to inactive (a dip resets) and resolves firing. A missing value (the
 * mount or interface is gone) counts as "does not hold".
 */
export class ThresholdRule {
  state: RuleState = 'inactive';
  private since = 0;
  readonly alertname: string;

  constructor(readonly cfg: ThresholdConfig) {
    this.alertname = ruleAlertName(cfg);
  }

  holds(value: number | undefined): boolean {
    if (value === undefined || Number.isNaN(value)) return false;
    return this.cfg.above !== undefined ? value > this.cfg.above : value < this.cfg.below!;
  }

  /** When the condition started holding (pending or firing). */
  get activeSinceMs(): number {
    return this.since;
  }

  observe(value: number | undefined, nowMs: number): RuleChange | undefined {
    if (!this.holds(value)) {
      const was = this.state;
      this.state = 'inactive';
      return was === 'firing' ? { to: 'resolved', value: value ?? NaN, sinceMs: nowMs } : undefined;
    }
    if (this.state === 'inactive') {
      this.state = 'pending';
      this.since = nowMs;
    }
    if (this.state === 'pending' && nowMs - this.since >= this.cfg.for) {
      this.state = 'firing';
      return { to: 'firing', value: value!, sinceMs: this.since };
    }
    return undefined;
  }

  describe(value: number): string {
    const bound = this.cfg.above !== undefined ? `above ${this.cfg.above}` : `below ${this.cfg.below}`;
    return `${ruleTarget(this.cfg)} is ${Math.round(value * 100) / 100}, ${bound}${this.cfg.for ? ` for ${formatDuration(this.cfg.for)}` : ''}`;
  }
}

/** The value a rule watches in one sample; undefined when the sample lacks it. */
export function metricValue(s: Sample, r: ThresholdConfig): number | undefined {
  switch (r.metric) {
    case 'cpu.percent':
      return s.cpu.percent;
    case 'cpu.iowait_percent':
      return s.cpu.iowait;
    case 'cpu.steal_percent':
      return s.cpu.steal;
    case 'load.1m':
      return s.load[0];
    case 'load.5m':
      return s.load[1];
    case 'load.15m':
      return s.load[2];
    case 'load.1m_per_core':
      return s.load_per_core;
    case 'mem.used_percent':
      return s.mem.used_percent;
    case 'swap.used_percent':
      return s.swap.used_percent;
    case 'disk.used_percent':
    case 'disk.inodes_used_percent': {
      const d = s.disks.find((x) => x.mount === (r.mount ?? '/'));
      if (!d) return undefined;
      return r.metric === 'disk.used_percent' ? d.used_percent : d.inodes_used_percent;
    }
    case 'net.rx_bytes_per_s':
    case 'net.tx_bytes_per_s': {
      const key = r.metric === 'net.rx_bytes_per_s' ? 'rx_bps' : 'tx_bps';
      if (r.interface) return s.net.find((n) => n.iface === r.interface)?.[key];
      return s.net.filter((n) => n.iface !== 'lo').reduce((a, n) => a + n[key], 0);
    }
  }
}
