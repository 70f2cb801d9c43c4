/**
 * Sliding-window limiter: at most `count` sends in any `perMs` window. Robots count every
 * request (retries too), so every attempt is recorded, successful or not.
 */
export class RateLimiter {
  private readonly sent: number[] = [];

  constructor(
    readonly count: number,
    readonly perMs: number,
  ) {}

  private trim(now: number): void {
    while (this.sent.length > 0 && this.sent[0]! <= now - this.perMs) this.sent.shift();
  }

  remaining(now: number): number {
    this.trim(now);
    return Math.max(0, this.count - this.sent.length);
  }

  /** Milliseconds until one more send is allowed (0 = now). */
  waitMs(now: number): number {
    this.trim(now);
    if (this.sent.length < this.count) return 0;
    return this.sent[0]! + this.perMs - now;
  }

  record(now: number): void {
    this.sent.push(now);
  }

  /** Most sends seen in any window so far is at most `count`; for tests and stats. */
  get inWindow(): number {
    return this.sent.length;
  }
}
