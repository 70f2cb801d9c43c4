import type { LoggerOptions } from 'pino';

type LogMethod = (...args: unknown[]) => void;
interface Bindable {
  bindings(): Record<string, unknown>;
}

interface Window {
  startedMs: number;
  suppressed: number;
  /** The logger and arguments of the last suppressed line, to report the count with them. */
  last?: { self: Bindable; args: unknown[]; method: LogMethod };
}

export interface RateLimitOptions {
  /** One line per distinct warning/error per this interval; the rest are counted. */
  intervalMs: number;
  /** Bound on distinct keys remembered (beyond it the oldest windows are forgotten). */
  maxKeys?: number;
  now?: () => number;
}

/**
 * A pino `logMethod` hook that passes one line per distinct warning or error per interval and
 * counts the rest. A failing disk makes every component fail on every tick (ENOSPC six lines a
 * second); the log then fills what is left of the disk and hides everything else. Distinct means
 * same level, logger bindings (component, check...), message and error text. The count is reported on the next line that
 * passes (`repeated: N`) or, when the error stopped, by `flush()` (called on a timer).
 */
export function rateLimitHook(o: RateLimitOptions): { hook: NonNullable<NonNullable<LoggerOptions['hooks']>['logMethod']>; flush: () => void } {
  const windows = new Map<string, Window>();
  const now = o.now ?? Date.now;
  const maxKeys = o.maxKeys ?? 1000;

  const keyOf = (self: Bindable, args: unknown[], level: number): string => {
    const b = self.bindings();
    const first = args[0];
    let msg = '';
    let err = '';
    if (typeof first === 'string') msg = first;
    else {
      msg = typeof args[1] === 'string' ? args[1] : '';
      const e = first instanceof Error ? first : (first as { err?: unknown } | null)?.err;
      if (e instanceof Error) err = `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`.slice(0, 200);
      else if (e !== undefined) err = String(e).slice(0, 200);
    }
    return `${level}\u0000${JSON.stringify(b)}\u0000${msg}\u0000${err}`;
  };

  const withCount = (args: unknown[], repeated: number, sinceMs: number): unknown[] => {
    const first = args[0];
    const extra = { repeated, repeatedWithinMs: sinceMs };
    if (typeof first === 'string') return [extra, ...args];
    if (first instanceof Error) return [{ err: first, ...extra }, ...args.slice(1)];
    return [{ ...(first as object), ...extra }, ...args.slice(1)];
  };

  function hook(this: Bindable, args: unknown[], method: LogMethod, level: number): void {
    if (level < 40) return method.apply(this, args);
    const key = keyOf(this, args, level);
    const t = now();
    const w = windows.get(key);
    if (!w || t - w.startedMs >= o.intervalMs) {
      const repeated = w?.suppressed ?? 0;
      windows.delete(key);
      windows.set(key, { startedMs: t, suppressed: 0 });
      if (windows.size > maxKeys) windows.delete(windows.keys().next().value!);
      return method.apply(this, repeated > 0 ? withCount(args, repeated, t - w!.startedMs) : args);
    }
    w.suppressed++;
    w.last = { self: this, args, method };
  }

  const flush = () => {
    const t = now();
    for (const [key, w] of windows) {
      if (t - w.startedMs < o.intervalMs) continue;
      windows.delete(key);
      if (w.suppressed > 0 && w.last) w.last.method.apply(w.last.self, withCount(w.last.args, w.suppressed, t - w.startedMs));
    }
  };
  return { hook: hook as never, flush };
}
