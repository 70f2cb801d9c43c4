import { lookup } from 'node:dns/promises';
import { connect, isIP } from 'node:net';
import type { SweepTarget } from './targets.js';

/** reachable: connected; refused: RST (the host is up, nothing listens); timeout: no answer. */
export type SweepStatus = 'reachable' | 'refused' | 'timeout' | 'unreachable' | 'error';

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

function classify(code: string | undefined): SweepStatus {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN') return 'unreachable';
  return 'error';
}

/** One TCP dial with a hard timeout; the socket is destroyed as soon as the answer is known. */
function dial(address: string, t: SweepTarget, timeoutMs: number): Promise<SweepResult> {
  const start = performance.now();
  return new Promise((resolve) => {
    const sock = connect({ host: address, port: t.port });
    const timer = setTimeout(() => finish('timeout', `no answer within ${timeoutMs}ms`), timeoutMs);
    function finish(status: SweepStatus, detail: string) {
      clearTimeout(timer);
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      resolve({ host: t.host, port: t.port, status, latencyMs: Math.round((performance.now() - start) * 100) / 100, detail });
    }
    sock.once('connect', () => finish('reachable', 'connected'));
    sock.once('error', (err: NodeJS.ErrnoException) => finish(classify(err.code), err.code ?? err.message));
  });
}

/**
 * Dials every target with at most `concurrency` connections in flight (a fixed pool of workers
 * pulling from one index, so memory stays flat however many targets). Names are resolved once
 * per host. Results are handed to `onResult` in completion order; the caller sorts.
 */
export async function runSweep(targets: readonly SweepTarget[], opts: SweepOptions, onResult: (r: SweepResult) => void): Promise<SweepSummary> {
  const started = performance.now();
  const summary: SweepSummary = { total: targets.length, reachable: 0, refused: 0, timeout: 0, unreachable: 0, error: 0, elapsedMs: 0, rate: 0 };
  const resolved = new Map<string, Promise<string | Error>>();
  const resolve = (host: string): Promise<string | Error> => {
    if (isIP(host)) return Promise.resolve(host);
    let p = resolved.get(host);
    if (!p) {
      p = lookup(host).then(
        (r) => r.address,
        (err: NodeJS.ErrnoException) => new Error(err.code ?? err.message),
      );
      resolved.set(host, p);
    }
    return p;
  };
  let next = 0;
  const worker = async () => {
    while (next < targets.length && !opts.signal?.aborted) {
      const t = targets[next++]!;
      const addr = await resolve(t.host);
      const r = addr instanceof Error ? { host: t.host, port: t.port, status: 'error' as const, latencyMs: 0, detail: `cannot resolve: ${addr.message}` } : await dial(addr, t, opts.timeoutMs);
      summary[r.status]++;
      onResult(r);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency, MAX_SWEEP_CONCURRENCY, targets.length));
  await Promise.all(Array.from({ length: n }, worker));
  summary.elapsedMs = Math.round(performance.now() - started);
  summary.rate = summary.elapsedMs > 0 ? Math.round((targets.length / summary.elapsedMs) * 1000) : targets.length;
  return summary;
}
