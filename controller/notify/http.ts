import { withDeadline } from '../../shared/deadline.js';
import { NotifyError } from './types.js';

export interface HttpAnswer {
  status: number;
  text: string;
}

/** Longest Retry-After we honour unless the receiver says otherwise: a bound, so one answer cannot silence a receiver for a day. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * Parses a Retry-After header (delay-seconds or an HTTP date) into milliseconds from `now`,
 * bounded by `maxMs`; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number, maxMs = DEFAULT_MAX_RETRY_AFTER_MS): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, ms), maxMs);
}

export interface PostOptions {
  /** Upper bound for a Retry-After on 429/503 (default 5 minutes). */
  maxRetryAfterMs?: number;
  now?: () => number;
}

/**
 * POSTs a body and returns the answer; network failures, timeouts and 5xx/429 become retryable
 * NotifyErrors, other non-2xx statuses permanent ones. A 429/503 with Retry-After carries it
 * (bounded) as `retryAfterMs`. The deadline covers connecting, the headers and reading the
 * answer, and is a timer we hold (shared/deadline.ts): GC cannot lose it. Secrets in the URL
 * never reach a message.
 */
export async function postBody(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal, opts: PostOptions = {}): Promise<HttpAnswer> {
  return withDeadline(timeoutMs, signal, async (sig, deadline) => {
    const why = (err: unknown): string => {
      if (deadline.timedOut) return `timed out after ${timeoutMs}ms`;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return cause?.code ?? cause?.message ?? (err as Error).message;
    };
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers, body, signal: sig, redirect: 'error' });
    } catch (err) {
      throw new NotifyError('OPS_ERR_NOTIFY_NETWORK', `POST ${redact(url)} failed: ${why(err)}`, { cause: err, retryable: true });
    }
    let text = '';
    try {
      text = await res.text();
    } catch (err) {
      throw new NotifyError('OPS_ERR_NOTIFY_NETWORK', `reading the answer of ${redact(url)} failed: ${why(err)}`, { cause: err, retryable: true });
    }
    if (res.status >= 500 || res.status === 429) {
      const retryAfterMs = res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get('retry-after'), (opts.now ?? Date.now)(), opts.maxRetryAfterMs) : undefined;
      const after = retryAfterMs !== undefined ? ` (Retry-After ${Math.round(retryAfterMs)}ms)` : '';
      throw new NotifyError('OPS_ERR_NOTIFY_HTTP', `${redact(url)} answered HTTP ${res.status}${after}: ${text.slice(0, 200)}`, { retryable: true, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    }
    if (res.status < 200 || res.status >= 300) {
      throw new NotifyError('OPS_ERR_NOTIFY_HTTP', `${redact(url)} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    return { status: res.status, text };
  });
}

/** Robot webhooks carry their key in the query string; keep only scheme, host and path. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/** Parses a robot's `{errcode, errmsg}` answer; a non-JSON answer is a permanent error. */
export function parseErrcode(text: string, what: string): { errcode: number; errmsg: string } {
  try {
    const j = JSON.parse(text) as { errcode?: unknown; errmsg?: unknown };
    if (typeof j.errcode === 'number') return { errcode: j.errcode, errmsg: typeof j.errmsg === 'string' ? j.errmsg : '' };
  } catch {
    /* fall through */
  }
  throw new NotifyError('OPS_ERR_NOTIFY_RESPONSE', `${what} answered without an errcode: ${text.slice(0, 200)}`);
}
