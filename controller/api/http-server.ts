import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { within } from '../../shared/lifecycle.js';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
}

export type Handler = (ctx: RequestContext) => Promise<unknown> | unknown;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** An API error with its HTTP status; the body is `{ error: { code, message } }`. */
export class HttpError extends OpsError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

/** Reads a JSON request body of at most `limit` bytes; a bad body is a 400, not a crash. */
export async function readJsonBody<T = unknown>(req: IncomingMessage, limit = 1024 * 1024): Promise<T> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'OPS_ERR_BODY_TOO_LARGE', `request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {} as T;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new HttpError(400, 'OPS_ERR_BAD_JSON', `request body is not JSON: ${(err as Error).message}`);
  }
}

/** Minimal JSON router on node:http: no framework, every route a function returning data. */
export class HttpServer {
  private readonly routes: Route[] = [];
  private server: Server | undefined;
  private readonly log: Logger;

  constructor(logger: Logger) {
    this.log = logger.child({ component: 'api' });
  }

  route(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/:([a-zA-Z]+)/g, (_m, k: string) => {
        keys.push(k);
        return '([^/]+)';
      })}$`,
    );
    this.routes.push({ method, pattern, keys, handler });
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(url.pathname);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method) continue;
      const params = Object.fromEntries(r.keys.map((k, i) => [k, decodeURIComponent(m[i + 1]!)]));
      try {
        const body = await r.handler({ req, res, params, query: url.searchParams });
        if (!res.headersSent) send(res, 200, body);
      } catch (err) {
        if (err instanceof HttpError) send(res, err.status, { error: { code: err.code, message: err.message } });
        else if (err instanceof OpsError) send(res, err.code === 'OPS_ERR_RPC_UNAVAILABLE' ? 504 : 502, { error: { code: err.code, message: err.message } });
        else {
          this.log.error({ err, path: url.pathname }, 'request failed');
          send(res, 500, { error: { code: 'OPS_ERR_INTERNAL', message: 'internal error' } });
        }
      }
      return;
    }
    if (pathMatched) send(res, 405, { error: { code: 'OPS_ERR_METHOD', message: `${req.method} not allowed on ${url.pathname}` } });
    else send(res, 404, { error: { code: 'OPS_ERR_NOT_FOUND', message: `no route ${url.pathname}` } });
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (err) => reject(new OpsError('OPS_ERR_HTTP_BIND', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.log.info({ host: addr.address, port: addr.port }, 'http api listening');
    return addr;
  }

  async close(graceMs = 1000): Promise<void> {
    const s = this.server;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    if (!(await within(closed, graceMs))) s.closeAllConnections();
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
