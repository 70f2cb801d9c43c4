import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Builtin } from './types.js';

export const load: Builtin = async () => {
  const [l1, l5, l15, procs] = readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/);
  const [running, total] = (procs ?? '0/0').split('/').map(Number);
  const cores = availableParallelism();
  const data = { load1: Number(l1), load5: Number(l5), load15: Number(l15), cores, load1_per_core: Math.round((Number(l1) / cores) * 100) / 100, running, processes: total };
  return { status: 'ok', summary: `load ${l1} ${l5} ${l15} on ${cores} cores`, data };
};
