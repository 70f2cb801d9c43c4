/**
 * Failed authentications per source address in a sliding window. Over the limit the address is
 * refused (429) without its token being looked at until the window passes, so guessing costs
 * the guesser time and not the controller work. Bounded: at most `maxAddresses` are tracked;
 * the oldest entry is dropped first (Map keeps insertion order).
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Milliseconds until the address may try again, or 0. */
  blockedFor(addr: string): number {
    const list = this.recent(addr);
    if (list.length < this.max) return 0;
    return Math.max(1, list[0]! + this.windowMs - this.now());
  }

  fail(addr: string): void {
    const list = this.recent(addr);
    list.push(this.now());
    if (list.length > this.max) list.splice(0, list.length - this.max);
    this.failures.delete(addr);
    this.failures.set(addr, list);
    if (this.failures.size > this.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(addr: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const list = (this.failures.get(addr) ?? []).filter((t) => t > cutoff);
    if (list.length === 0) this.failures.delete(addr);
    return list;
  }
}
