/** The page's one way to the controller: same origin, the session cookie, the CSRF header on mutations. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';
let onUnauthorized: () => void = () => {};

export function setCsrf(v: string): void {
  csrf = v;
}
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

async function failure(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const j = (await res.json()) as { error?: { code?: string; message?: string } };
    if (j.error?.code) code = j.error.code;
    if (j.error?.message) message = j.error.message;
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, code, message);
}

export async function request(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (method !== 'GET') headers['x-opsfleet-csrf'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) {
    const err = await failure(res);
    if (res.status === 401 && !path.endsWith('/dashboard/login')) onUnauthorized();
    throw err;
  }
  return res;
}

export async function get<T>(path: string): Promise<T> {
  return (await (await request('GET', path)).json()) as T;
}

export async function send<T>(method: string, path: string, body: unknown = {}): Promise<T> {
  return (await (await request(method, path, body)).json()) as T;
}

/** A GET that answers undefined when the route does not exist on this controller (an older or newer API). */
export async function getOptional<T>(path: string): Promise<T | undefined> {
  try {
    return await get<T>(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && (err.code === 'OPS_ERR_NOT_FOUND' || err.code === 'OPS_ERR_FACTS_NONE')) return undefined;
    throw err;
  }
}

/** Reads an NDJSON response line by line as it arrives (the run stream). */
export async function readNdjson(res: Response, onLine: (v: unknown) => void): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) onLine(JSON.parse(line));
    }
  }
  if (buf.trim()) onLine(JSON.parse(buf));
}
