import type { SweepRequest, SweepResponse } from '../../shared/gen/opsfleet/v1/agent.js';
import type { Logger } from '../../shared/logger.js';
import { runSweep, type SweepResult } from '../../shared/sweep/sweep.js';
import { parseTargets } from '../../shared/sweep/targets.js';

const DEFAULT_CONCURRENCY = 500;
const DEFAULT_TIMEOUT_MS = 2000;
/** Results per streamed message, and the longest a result waits to be sent. */
const BATCH = 500;
const FLUSH_MS = 200;

/**
 * The agent side of the Sweep RPC: parse, dial from this host, stream results in batches (a
 * batch every 500 results or 200 ms), end with the summary. Stops dialling when the caller
 * cancels.
 */
export function sweepHandler(logger: Logger) {
  const log = logger.child({ component: 'sweep' });
  return async (req: SweepRequest, send: (b: SweepResponse) => void, signal: AbortSignal): Promise<void> => {
    const targets = parseTargets(req.targets.join(','), req.ports.join(','));
    const concurrency = req.concurrency || DEFAULT_CONCURRENCY;
    const timeoutMs = req.timeoutMs || DEFAULT_TIMEOUT_MS;
    log.info({ targets: targets.length, concurrency, timeoutMs }, 'sweep started');
    let pending: SweepResult[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      send({ results: pending, summary: undefined });
      pending = [];
    };
    const timer = setInterval(flush, FLUSH_MS);
    try {
      const s = await runSweep(targets, { concurrency, timeoutMs, signal }, (r) => {
        pending.push(r);
        if (pending.length >= BATCH) flush();
      });
      const results = pending;
      pending = [];
      send({ results, summary: { ...s, elapsedMs: s.elapsedMs } });
      log.info({ ...s }, 'sweep finished');
    } finally {
      clearInterval(timer);
    }
  };
}
