/**
 * Lifecycle of a long-lived component. `stop()` is idempotent: later callers get the
 * first call's promise.
 */
export type ComponentStateName = 'new' | 'starting' | 'running' | 'degraded' | 'stopping' | 'stopped' | 'failed';

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  state(): { state: ComponentStateName; detail?: string };
}

/** Wraps a stop function so that concurrent and repeated calls share one run. */
export function onceStop(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

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
