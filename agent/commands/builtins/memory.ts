import { readFileSync } from 'node:fs';
import type { Builtin } from './types.js';

/** Parses /proc/meminfo into bytes. */
export function readMeminfo(text = readFileSync('/proc/meminfo', 'utf8')): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const r = /^(\w+(?:\(\w+\))?):\s+(\d+)(?: kB)?$/.exec(line.trim());
    if (r) m.set(r[1]!, Number(r[2]) * (line.includes('kB') ? 1024 : 1));
  }
  return m;
}

export const memory: Builtin = async () => {
  const m = readMeminfo();
  const total = m.get('MemTotal') ?? 0;
  const available = m.get('MemAvailable') ?? m.get('MemFree') ?? 0;
  const swapTotal = m.get('SwapTotal') ?? 0;
  const swapUsed = swapTotal - (m.get('SwapFree') ?? 0);
  const usedPct = total > 0 ? Math.round(((total - available) / total) * 1000) / 10 : 0;
  return {
    status: 'ok',
    summary: `memory ${usedPct}% used of ${Math.round(total / 1024 / 1024)} MiB, swap ${swapUsed > 0 ? Math.round(swapUsed / 1024 / 1024) : 0} MiB used`,
    data: { total_bytes: total, available_bytes: available, used_bytes: total - available, used_percent: usedPct, swap_total_bytes: swapTotal, swap_used_bytes: swapUsed },
  };
};
