import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { defaultDialer, type Dialer, type DialStatus } from './dialer.js';
import type { SweepTarget } from './targets.js';

export type SweepStatus = DialStatus;

export interface SweepResult {
  host: string;
  port: number;
  status: SweepStatus;
  latencyMs: number;
  detail: string;
}

export interface SweepOptions {
  concurrency: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Defaults to the fastest available (see dialer.ts). */
  dialer?: Dialer;
}

export interface SweepSummary {
  total: number;
  reachable: number;
  refused: number;
  timeout: number;
  unreachable: number;
  error: number;
  elapsedMs: number;
  /** Dials completed per second. */
  rate: number;
}

/** Upper bound on concurrent dials, whatever is asked: each holds a file descriptor. */
export const MAX_SWEEP_CONCURRENCY = 4096;

/**
 * Dials every target with at most `concurrency` connections in flight: each completion starts
 * the next dial (callbacks, no promise per dial), so memory stays flat however many targets.
 * Names are resolved once per host first. Results go to `onResult` in completion order; the
 * caller sorts. An aborted signal stops launching new dials; those in flight finish.
 */
export async function runSweep(targets: readonly SweepTarget[], opts: SweepOptions, onResult: (r: SweepResult) => void): Promise<SweepSummary> {
  const started = performance.now();
  const dial = opts.dialer ?? defaultDialer();
  const summary: SweepSummary = { total: targets.length, reachable: 0, refused: 0, timeout: 0, unreachable: 0, error: 0, elapsedMs: 0, rate: 0 };
  const addresses = new Map<string, string | Error>();
  for (const host of new Set(targets.map((t) => t.host))) {
    if (isIP(host)) continue;
    try {
      addresses.set(host, (await lookup(host)).address);
    } catch (err) {
      addresses.set(host, new Error((err as NodeJS.ErrnoException).code ?? (err as Error).message));
    }
  }
  const limit = Math.max(1, Math.min(opts.concurrency, MAX_SWEEP_CONCURRENCY));
  await new Promise<void>((resolve) => {
    let next = 0;
    let inFlight = 0;
    const record = (r: SweepResult) => {
      summary[r.status]++;
      onResult(r);
    };
    const launch = () => {
      while (inFlight < limit && next < targets.length && !opts.signal?.aborted) {
        const t = targets[next++]!;
        const addr = addresses.get(t.host) ?? t.host;
        if (addr instanceof Error) {
          record({ host: t.host, port: t.port, status: 'error', latencyMs: 0, detail: `cannot resolve: ${addr.message}` });
          continue;
        }
        inFlight++;
        const t0 = performance.now();
        dial(addr, t.port, opts.timeoutMs, (status, detail) => {
          inFlight--;
          record({ host: t.host, port: t.port, status, latencyMs: Math.round((performance.now() - t0) * 100) / 100, detail });
          launch();
        });
      }
      if (inFlight === 0 && (next >= targets.length || opts.signal?.aborted)) resolve();
    };
    launch();
  });
  summary.elapsedMs = Math.round(performance.now() - started);
  summary.rate = summary.elapsedMs > 0 ? Math.round((targets.length / summary.elapsedMs) * 1000) : targets.length;
  return summary;
}
