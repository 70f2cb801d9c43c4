/**
 * Prometheus text exposition format (version 0.0.4), written by hand: a few gauges and counters
 * do not need a metrics library, and both daemons render their own internals through this.
 */
export type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/**
 * Collects samples by metric family and renders each family once, all its samples together:
 * the exposition format requires a family's lines to be one group, and strict parsers (the
 * OpenMetrics one among them) reject a family that reappears after another began. Callers may
 * add samples in any order (per check: up, then restarts, then the next check's up...).
 */
export class PromText {
  private readonly families = new Map<string, { header: string[]; samples: string[] }>();

  /** Declares a family (on its first sample) and adds one sample to it. */
  add(name: string, type: 'gauge' | 'counter', help: string, value: number, labels: Labels = {}): this {
    let f = this.families.get(name);
    if (!f) {
      f = { header: [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, ' ')}`, `# TYPE ${name} ${type}`], samples: [] };
      this.families.set(name, f);
    }
    const l = Object.entries(labels);
    const ls = l.length ? `{${l.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
    f.samples.push(`${name}${ls} ${fmt(value)}`);
    return this;
  }

  /** process_* metrics of the current process, as the official clients name them. */
  addProcess(): this {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    this.add('process_cpu_seconds_total', 'counter', 'User and system CPU time spent in seconds.', (cpu.user + cpu.system) / 1e6);
    this.add('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', mem.rss);
    this.add('process_heap_bytes', 'gauge', 'V8 heap used in bytes.', mem.heapUsed);
    this.add('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', Math.round(Date.now() / 1000 - process.uptime()));
    return this;
  }

  render(): string {
    const lines: string[] = [];
    for (const f of this.families.values()) lines.push(...f.header, ...f.samples);
    return `${lines.join('\n')}\n`;
  }
}

export const PROM_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
