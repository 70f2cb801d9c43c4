import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { within } from '../../shared/lifecycle.js';
import { AuthError } from '../auth/auth-error.js';
import type { Principal } from '../auth/principal.js';
import { routeKey } from '../auth/roles.js';
import { DEFAULT_BODY_LIMIT, readJsonBody, validateBody } from './body-reader.js';
import { HttpError } from './http-error.js';
import { ForwardRefused, type Forwarder } from '../ha/forward.js';

export { HttpError } from './http-error.js';
export { readJsonBody } from './body-reader.js';

export interface RequestContext<B = unknown> {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Who is calling (from the token; `anonymous` on open routes). */
  principal: Principal;
  /** The body, validated by the route's schema (routes without a schema: undefined). */
  body: B;
}

export type Handler<B = unknown> = (ctx: RequestContext<B>) => Promise<unknown> | unknown;

/** Decides who may call a route; see controller/auth/authenticator.ts. */
export interface RouteGuard {
  /** Throws when the route has no policy (checked at registration). */
  policy(key: string): unknown;
  /** The caller's principal, or throws HttpError 401/403/429. */
  check(req: IncomingMessage, key: string): Principal;
}

export interface RouteOptions<S extends z.ZodType> {
  /** The body's schema; POST/DELETE routes without one accept only an empty body or `{}`. */
  body?: S;
  /** The zod failure's error code (default OPS_ERR_BAD_REQUEST). */
  bodyCode?: string;
  /** Bytes; default 1 MiB. */
  bodyLimit?: number;
}

interface Route {
  method: string;
  key: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler<never>;
  body?: z.ZodType;
  bodyCode?: string;
  bodyLimit: number;
}

export interface HttpServerOptions {
  guard: RouteGuard;
  tls?: { cert: string; key: string };
  /** HA: a standby passes mutations to the leader; the leader accepts the callers a standby forwards. */
  forward?: Pick<Forwarder, 'forward' | 'forwardedPrincipal'>;
}

/**
 * Mutating routes a standby answers itself: dashboard sessions and login tickets live in the
 * memory of the controller the browser talks to, and previews/route tests change nothing.
 */
const ANSWERED_LOCALLY = new Set([
  'POST /api/v1/dashboard/login',
  'POST /api/v1/dashboard/logout',
  'POST /api/v1/dashboard/tickets',
  'POST /api/v1/dashboard/silences/preview',
  'POST /api/v1/alerts/routes/test',
  'POST /api/v1/receivers/:name/preview',
]);
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const EMPTY_OBJECT: z.ZodType = {
  safeParse: (v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0
      ? { success: true, data: {} }
      : { success: false, error: { issues: [{ path: [], message: 'this route takes no body (empty or {})' }] } },
} as unknown as z.ZodType;

/** Minimal JSON router on node:http(s): no framework, every route a function returning data. */
export class HttpServer {
  private readonly routes: Route[] = [];
  private server: Server | undefined;
  private readonly log: Logger;

  constructor(
    logger: Logger,
    private readonly opts: HttpServerOptions,
  ) {
    this.log = logger.child({ component: 'api' });
  }

  route<S extends z.ZodType = z.ZodType<undefined>>(method: string, path: string, handler: Handler<z.output<S>>, o: RouteOptions<S> = {}): this {
    const key = routeKey(method, path);
    this.opts.guard.policy(key);
    const keys: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/:([a-zA-Z]+)/g, (_m, k: string) => {
        keys.push(k);
        return '([^/]+)';
      })}$`,
    );
    const body = o.body ?? (method === 'POST' || method === 'DELETE' || method === 'PUT' ? EMPTY_OBJECT : undefined);
    this.routes.push({ method, key, pattern, keys, handler: handler as Handler<never>, ...(body ? { body } : {}), ...(o.bodyCode ? { bodyCode: o.bodyCode } : {}), bodyLimit: o.bodyLimit ?? DEFAULT_BODY_LIMIT });
    return this;
  }

  /** Every registered route as "METHOD /path" (for docs and the route × role tests). */
  routeKeys(): string[] {
    return this.routes.map((r) => r.key);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path: string;
    let query: URLSearchParams;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      path = url.pathname;
      query = url.searchParams;
    } catch {
      return send(res, 400, { error: { code: 'OPS_ERR_BAD_URL', message: 'the request URL cannot be parsed' } });
    }
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method) continue;
      try {
        const params: Record<string, string> = {};
        r.keys.forEach((k, i) => {
          try {
            params[k] = decodeURIComponent(m[i + 1]!);
          } catch {
            throw new HttpError(400, 'OPS_ERR_BAD_URL', `path segment ${k} is not valid percent-encoding: "${m[i + 1]!.slice(0, 100)}"`);
          }
        });
        const fwd = this.opts.forward;
        const forwarded = fwd?.forwardedPrincipal(req);
        const principal = forwarded ?? this.opts.guard.check(req, r.key);
        if (fwd && !forwarded && !READ_METHODS.has(r.method) && !ANSWERED_LOCALLY.has(r.key) && fwd.forward(req, res, principal)) return;
        const body = r.body ? validateBody(r.body, await readJsonBody(req, r.bodyLimit), r.bodyCode) : undefined;
        const out = await r.handler({ req, res, params, query, principal, body: body as never });
        // A handler may pick a success status (202 for a pending enrollment) by setting
        // res.statusCode; send() writes the status explicitly, so pass that one on (default 200).
        if (!res.headersSent) send(res, res.statusCode, out);
      } catch (err) {
        this.fail(res, path, err);
      }
      return;
    }
    if (pathMatched) send(res, 405, { error: { code: 'OPS_ERR_METHOD', message: `${req.method} not allowed on ${path}` } });
    else send(res, 404, { error: { code: 'OPS_ERR_NOT_FOUND', message: `no route ${path}` } });
  }

  private fail(res: ServerResponse, path: string, err: unknown): void {
    if (res.headersSent) {
      // A streamed answer already started: all that is left is to cut it so the client sees it end early.
      this.log.error({ err, path }, 'request failed after the answer started');
      res.destroy();
      return;
    }
    if (err instanceof HttpError || err instanceof AuthError || err instanceof ForwardRefused) send(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
    else if (err instanceof OpsError) send(res, err.code === 'OPS_ERR_RPC_UNAVAILABLE' ? 504 : err.code === 'OPS_ERR_HOST_REVOKED' ? 403 : 502, { error: { code: err.code, message: err.message } });
    else {
      this.log.error({ err, path }, 'request failed');
      send(res, 500, { error: { code: 'OPS_ERR_INTERNAL', message: 'internal error' } });
    }
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      // handle() catches what routes throw; this owns what escapes it, so nothing floats.
      this.handle(req, res).catch((err: unknown) => this.fail(res, req.url ?? '', err));
    };
    if (this.opts.tls) {
      let tls: { cert: Buffer; key: Buffer };
      try {
        tls = { cert: readFileSync(this.opts.tls.cert), key: readFileSync(this.opts.tls.key) };
      } catch (err) {
        throw new OpsError('OPS_ERR_HTTP_TLS', `cannot read http.tls files: ${(err as Error).message}`, { cause: err });
      }
      try {
        this.server = createTlsServer(tls, onRequest);
      } catch (err) {
        throw new OpsError('OPS_ERR_HTTP_TLS', `http.tls cert/key rejected: ${(err as Error).message}`, { cause: err });
      }
    } else this.server = createServer(onRequest);
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (err) => reject(new OpsError('OPS_ERR_HTTP_BIND', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.log.info({ host: addr.address, port: addr.port, tls: this.opts.tls !== undefined }, 'http api listening');
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

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
