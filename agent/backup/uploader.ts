import { OpsError } from '../../shared/errors.js';
import { sleep } from '../../shared/lifecycle.js';
import { backoffDelay } from '../../shared/retry.js';

export interface RetryPolicy {
  attempts: number;
  initial: number;
  max: number;
}

/**
 * Runs `fn` until it succeeds, at most `attempts` times, sleeping a full-jitter exponential
 * backoff between tries. Errors marked not retryable (bad credentials, missing bucket) end it
 * at once. Throws the last error; `attempts` on it says how many were made.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, p: RetryPolicy, o: { signal?: AbortSignal; onRetry?: (err: unknown, attempt: number, delayMs: number) => void } = {}): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt < p.attempts; attempt++) {
    if (o.signal?.aborted) break;
    try {
      return await fn(attempt);
    } catch (err) {
      last = err;
      if (err instanceof OpsError && !err.retryable) break;
      if (attempt + 1 >= p.attempts) break;
      const delay = backoffDelay(attempt, p.initial, p.max);
      o.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, o.signal);
    }
  }
  throw last ?? new OpsError('OPS_ERR_BACKUP_ABORTED', 'stopped before the upload finished');
}
