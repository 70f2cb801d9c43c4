/**
 * CPU time (user + system, ms) of one call of `fn` in this process, the median of `n` calls;
 * `between` runs unmeasured before each (e.g. the writes that invalidate a cache).
 */
export function cpuCost(fn: () => unknown, n: number, between?: () => void): number {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    between?.();
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    xs.push((c.user + c.system) / 1000);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.floor(xs.length / 2))] ?? NaN;
}
