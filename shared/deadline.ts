/**
 * Deadlines for outbound requests that garbage collection cannot lose.
 *
 * `AbortSignal.any([signal, AbortSignal.timeout(ms)])` looks right but is not on Node 20: the
 * combined signal holds its sources weakly, nothing else references the timeout signal, and when
 * GC runs during the request the timeout signal is collected with its timer. The request then
 * waits forever on a peer that accepted the connection and never answers (issue 20 item 3).
 *
 * A `Deadline` owns a plain `setTimeout` (held by the event loop until it fires or is cleared)
 * whose callback aborts an `AbortController` this object references, so the abort cannot be
 * collected before it happens. It also follows an optional parent signal (shutdown).
 */
export class DeadlineError extends Error {
  readonly code = 'OPS_ERR_DEADLINE';
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs}ms`);
    this.name = 'TimeoutError';
  }
}

export class Deadline {
  private readonly ac = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onParent: (() => void) | undefined;

  constructor(
    readonly timeoutMs: number,
    private readonly parent?: AbortSignal,
  ) {
    // The timer closure references `this.ac`: as long as the timer is pending, the abort is
    // reachable from the event loop's timer list, whatever happens to the signals.
    this.timer = setTimeout(() => this.ac.abort(new DeadlineError(timeoutMs)), timeoutMs);
    if (parent) {
      if (parent.aborted) this.ac.abort(parent.reason);
      else {
        this.onParent = () => this.ac.abort(parent.reason);
        parent.addEventListener('abort', this.onParent, { once: true });
      }
    }
  }

  /** Aborted at the deadline (reason: DeadlineError) or when the parent aborts (its reason). */
  get signal(): AbortSignal {
    return this.ac.signal;
  }

  /** True when the deadline, not the parent, ended the operation. */
  get timedOut(): boolean {
    return this.ac.signal.aborted && this.ac.signal.reason instanceof DeadlineError;
  }

  /** Clears the timer and the parent listener; call when the operation is over (finally). */
  clear(): void {
    clearTimeout(this.timer);
    if (this.onParent) this.parent?.removeEventListener('abort', this.onParent);
  }
}

/**
 * Runs `fn` with a signal that aborts after `timeoutMs` or when `parent` aborts, whichever comes
 * first; the deadline covers everything `fn` awaits (connect, headers and reading the body).
 */
export async function withDeadline<T>(timeoutMs: number, parent: AbortSignal | undefined, fn: (signal: AbortSignal, deadline: Deadline) => Promise<T>): Promise<T> {
  const d = new Deadline(timeoutMs, parent);
  try {
    return await fn(d.signal, d);
  } finally {
    d.clear();
  }
}
