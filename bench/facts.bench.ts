/**
 * What gathering host facts costs the agent (issue 16): wall time and CPU time of one
 * gathering (systeminformation probes + file reads, agent/facts/gather.ts), the memory it
 * holds while loaded, and what stays after systeminformation is dropped from the require
 * cache and the heap collected. Baseline: the same process before the first gathering.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadavg } from 'node:os';
import { gatherFacts } from '../agent/facts/gather.js';
import type { Bench } from './types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function settle(): { rss: number; heap: number } {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

const MB = 2 ** 20;

const bench: Bench = {
  name: 'host facts gathering',
  async run({ quick }) {
    const load0 = loadavg()[0]!;
    const base = settle();
    const rounds = quick ? 2 : 3;
    const wall: number[] = [];
    const cpu: number[] = [];
    let peakRss = 0;
    let failed: string[] = [];
    const after: Array<{ rss: number; heap: number }> = [];
    for (let i = 0; i < rounds; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const doc = await gatherFacts();
      wall.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      failed = Object.keys(doc.errors);
      after.push(settle());
    }
    const last = after.at(-1)!;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    return {
      title: 'Host facts: one gathering (systeminformation, loaded per gathering and dropped after)',
      rows: [
        { name: 'gathering, wall time', rate: rounds / (sum(wall) / 1000), unit: 'gathering', count: rounds, seconds: sum(wall) / 1000, note: `${(sum(wall) / rounds / 1000).toFixed(1)} s each, mostly waiting on spawned probes; failed probes: ${failed.join(', ') || 'none'}` },
        { name: 'gathering, CPU time of the agent process', rate: rounds / (sum(cpu) / 1000), unit: 'gathering', count: rounds, seconds: sum(cpu) / 1000, note: `${(sum(cpu) / rounds).toFixed(0)} ms CPU each (children not counted)` },
      ],
      notes: [
        `Memory, same process: before the first gathering RSS ${(base.rss / MB).toFixed(1)} MiB, heap ${(base.heap / MB).toFixed(1)} MiB (baseline); peak RSS while gathering ${(peakRss / MB).toFixed(1)} MiB; after ${rounds} gatherings and a full GC RSS ${(last.rss / MB).toFixed(1)} MiB, heap ${(last.heap / MB).toFixed(1)} MiB (heap +${((last.heap - base.heap) / MB).toFixed(1)} MiB kept; after the first: +${((after[0]!.heap - base.heap) / MB).toFixed(1)} MiB).`,
        'RSS does not shrink back fully (V8 keeps freed pages for reuse); the heap figure is what stays referenced.',
        `Load average at start ${load0.toFixed(2)}: the machine is shared, wall times are inflated by it; probes run one after another on purpose (no burst of children).`,
      ],
    };
  },
};
export default bench;
