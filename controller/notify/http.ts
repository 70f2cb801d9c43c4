import { NotifyError } from './types.js';

export interface HttpAnswer {
  status: number;
  text: string;
}

/**
 * POSTs a body and returns the answer; network failures, timeouts and 5xx/429 become retryable
 * NotifyErrors, other non-2xx statuses permanent ones. Secrets in the URL never reach a message.
 */
export async function postBody(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<HttpAnswer> {
  let res: Response;
  const sig = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
  try {
    res = await fetch(url, { method: 'POST', headers, body, signal: sig, redirect: 'error' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? `timed out after ${timeoutMs}ms` : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new NotifyError('OPS_ERR_NOTIFY_NETWORK', `POST ${redact(url)} failed: ${why}`, { cause: err, retryable: true });
  }
  let text = '';
  try {
    text = await res.text();
  } catch (err) {
    throw new NotifyError('OPS_ERR_NOTIFY_NETWORK', `reading the answer of ${redact(url)} failed: ${(err as Error).message}`, { cause: err, retryable: true });
  }
  if (res.status >= 500 || res.status === 429) {
    throw new NotifyError('OPS_ERR_NOTIFY_HTTP', `${redact(url)} answered HTTP ${res.status}: ${text.slice(0, 200)}`, { retryable: true });
  }
  if (res.status < 200 || res.status >= 300) {
    throw new NotifyError('OPS_ERR_NOTIFY_HTTP', `${redact(url)} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  return { status: res.status, text };
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
