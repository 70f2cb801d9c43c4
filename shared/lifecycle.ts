/**
 * What a long-lived component reports as its state (`state()` of the daemons and of the agent's
 * components, shown by `opsctl host status`).
 *
 * The contract every long-lived component keeps, by convention rather than by an interface
 * (their start is sync or async, their stop takes no grace or one: a shared interface would
 * have fitted none of them without a rewrite): built from one deps object, `start()` in
 * dependency order, `stop()` idempotent and bounded, reverse order. ARCHITECTURE.md lists them.
 */
export type ComponentStateName = 'new' | 'starting' | 'running' | 'degraded' | 'stopping' | 'stopped' | 'failed';

/** Resolves after `ms`, or early when `signal` aborts; the timer never holds the process open. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    t.unref();
    function done() {
      signal?.removeEventListener('abort', done);
      clearTimeout(t);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Races `p` against a timeout; resolves `false` when the timeout won. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
