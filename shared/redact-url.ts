/**
 * `scheme://user:password@host` → `scheme://[redacted]@host`, everywhere in a text. The whole
 * user-info goes, not only the password: `nats://TOKEN@host` carries a secret in the user part.
 * The authority ends at the first `/`, so an `@` in a path is left alone.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"<>]+@/gi;

export function redactUrlCredentials(text: string): string {
  return text.includes('@') ? text.replace(URL_CREDENTIALS, '$1[redacted]@') : text;
}

/**
 * A value with every string in it passed through redactUrlCredentials; objects and arrays are
 * copied only where something changed. Errors keep their class and fields, with message and
 * stack redacted. Used on every log call (shared/logger.ts) and on API answers that echo config.
 */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactUrlCredentials(value) as T;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) {
    const message = redactUrlCredentials(value.message);
    const stack = value.stack === undefined ? undefined : redactUrlCredentials(value.stack);
    if (message === value.message && stack === value.stack) return value;
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Error;
    for (const k of Object.getOwnPropertyNames(value)) (copy as unknown as Record<string, unknown>)[k] = redactDeep((value as unknown as Record<string, unknown>)[k], depth + 1);
    copy.message = message;
    if (stack !== undefined) copy.stack = stack;
    return copy as T;
  }
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const r = redactDeep(v, depth + 1);
      if (r !== v) (out ??= value.slice())[i] = r;
    });
    return (out ?? value) as T;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) return value; // Buffers, Dates, class instances
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const r = redactDeep(v, depth + 1);
    if (r !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = r;
  }
  return (out ?? value) as T;
}
