/**
 * Flap protection: at most `max` restarts within a sliding `windowMs`. Both restart paths (the
 * restart command after a failed check, a supervised process that crashed) spend from one
 * budget, so a service that dies right after every restart exhausts it and the agent gives up
 * loudly instead of restarting forever (or silently stopping, Monit's known failing).
 */
export class RestartBudget {
  private readonly attempts: number[] = [];

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private prune(): void {
    const cutoff = this.now() - this.windowMs;
    while (this.attempts.length > 0 && this.attempts[0]! <= cutoff) this.attempts.shift();
  }

  /** Attempts inside the window. */
  used(): number {
    this.prune();
    return this.attempts.length;
  }

  canRestart(): boolean {
    return this.used() < this.max;
  }

  /** Records an attempt; returns its number within the window (1-based). */
  spend(): number {
    this.prune();
    this.attempts.push(this.now());
    return this.attempts.length;
  }

  /** Milliseconds until an attempt leaves the window (0 when one is available now). */
  msUntilAvailable(): number {
    this.prune();
    if (this.attempts.length < this.max) return 0;
    return Math.max(0, this.attempts[0]! + this.windowMs - this.now());
  }

  /** An operator reset: forget the attempts. */
  reset(): void {
    this.attempts.length = 0;
  }
}
