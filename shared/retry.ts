/** Exponential backoff with full jitter (AWS architecture blog): sleep = random(0, min(max, initial * 2^attempt)). */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}
