/** Polls `cond` until it returns a truthy value or the deadline passes; never a fixed sleep. */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: { timeout?: number; interval?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const timeout = opts.timeout ?? 10_000;
  const interval = opts.interval ?? 50;
  const deadline = Date.now() + timeout;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const suffix = lastErr ? ` (last error: ${(lastErr as Error).message})` : '';
      throw new Error(`timed out after ${timeout}ms waiting for ${opts.what ?? 'condition'}${suffix}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
