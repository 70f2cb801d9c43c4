import { request } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** `error.code` of an API error body, if any. */
  code: string | undefined;
  json: unknown;
}

/**
 * One HTTP request with the path sent exactly as given (fetch would normalise malformed
 * escapes), an optional source address (127.0.0.x: its own failed-auth bucket) and a deadline:
 * a request the server never answers rejects instead of hanging the test.
 */
export function rawRequest(
  base: string,
  o: { method?: string; path: string; token?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string; timeoutMs?: number; chunked?: boolean; streamHeadersOnly?: boolean },
): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body !== undefined && !o.chunked) headers['content-length'] = String(Buffer.byteLength(o.body));
    const req = request({ host: u.hostname, port: u.port, method: o.method ?? 'GET', path: o.path, headers, ...(o.localAddress ? { localAddress: o.localAddress } : {}) }, (res) => {
      // A live stream (SSE) never ends by itself: its status and headers are the answer.
      if (o.streamHeadersOnly && String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '', json: undefined, code: undefined });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, code: (json as { error?: { code?: string } } | undefined)?.error?.code });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${o.method ?? 'GET'} ${o.path.slice(0, 120)}: no answer within ${o.timeoutMs ?? 10_000}ms`));
    }, o.timeoutMs ?? 10_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (o.body !== undefined) {
      if (o.chunked) {
        // Written in pieces so the server sees a chunked body without a Content-Length.
        const b = Buffer.from(o.body);
        for (let i = 0; i < b.length; i += 65536) req.write(b.subarray(i, i + 65536));
      } else req.write(o.body);
    }
    req.end();
  });
}
