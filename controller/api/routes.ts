import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { EventsStore } from '../store/events-store.js';
import { toHostView, type HostsStore, type HostSummaryView } from '../store/hosts-store.js';
import { HostsList, type IdentityBrief } from './hosts-list.js';
import type { AgentClients } from '../dispatch/agent-clients.js';
import { HttpError, type HttpServer } from './http-server.js';
import { VERSION } from '../../shared/version.js';

export interface ApiDeps {
  hosts: HostsStore;
  events: EventsStore;
  agents: AgentClients;
  health: () => Record<string, unknown>;
  /** A host's identity (controller/pki), merged into the host views. */
  identity?: (hostId: string) => IdentityBrief | undefined;
  /** Every host's identity in one read, for the full hosts list (else `identity` per host). */
  identities?: () => ReadonlyMap<string, IdentityBrief>;
  /** /readyz: whether this controller can do its work now (NATS and ingest, a writable database, disk space). */
  ready?: () => { ready: boolean; checks: Record<string, { ok: boolean; detail: string }>; role?: string; leader?: unknown };
}

/** Pages of `GET /api/v1/hosts`: default and largest page. */
export const HOSTS_PAGE_DEFAULT = 500;
export const HOSTS_PAGE_MAX = 5000;

function intParam(q: URLSearchParams, name: string, dflt: number, max: number): number {
  const v = q.get(name);
  if (v === null) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `${name} must be a non-negative integer, got "${v}"`);
  return Math.min(n, max);
}

const gzipAsync = promisify(gzip);

/** Answers smaller than this go out as they are: compressing them saves less than it costs. */
export const GZIP_MIN_BYTES = 16 * 1024;

/** Whether the request's If-None-Match names this tag (a list, or `*`). */
function notModified(req: IncomingMessage, etag: string): boolean {
  const inm = req.headers['if-none-match'];
  if (!inm) return false;
  return inm.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v === etag || `W/${v}` === etag;
  });
}

/** Whether Accept-Encoding allows gzip (`gzip`, `x-gzip` or `*`, with a q above 0). */
export function acceptsGzip(req: IncomingMessage): boolean {
  const ae = req.headers['accept-encoding'];
  if (typeof ae !== 'string') return false;
  return ae.split(',').some((item) => {
    const [name, ...params] = item.split(';').map((x) => x.trim().toLowerCase());
    if (name !== 'gzip' && name !== 'x-gzip' && name !== '*') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * Sends JSON bytes with their ETag, gzip'd when the client asks and the answer is large. zlib
 * runs on libuv's thread pool (the async call), so compressing 3 MiB does not hold the event
 * loop; the last compressed answer is kept by tag for pollers that ask again without
 * If-None-Match (a browser reload).
 */
async function sendJson(req: IncomingMessage, res: ServerResponse, json: Buffer, etag: string, gz: { etag: string; body: Buffer } | undefined, keep: (g: { etag: string; body: Buffer }) => void): Promise<void> {
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', etag, 'cache-control': 'no-cache', vary: 'accept-encoding' };
  if (json.length >= GZIP_MIN_BYTES && acceptsGzip(req)) {
    let body = gz?.etag === etag ? gz.body : undefined;
    if (!body) {
      body = await gzipAsync(json, { level: 1 });
      keep({ etag, body });
    }
    res.writeHead(200, { ...headers, 'content-encoding': 'gzip', 'content-length': body.length }).end(body);
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': json.length }).end(json);
}

/** The operators' JSON API (v1). */
export function registerRoutes(http: HttpServer, d: ApiDeps): void {
  http.route('GET', '/healthz', () => ({ status: 'ok', version: VERSION, ...d.health() }));
  // Liveness stays /healthz (200 while the process answers); readiness is 503 with the reasons
  // when a part the controller needs is missing, for load balancers and systemd/k8s probes.
  if (d.ready) {
    const ready = d.ready;
    http.route('GET', '/readyz', ({ res }) => {
      const r = ready();
      const body = JSON.stringify({ status: r.ready ? 'ready' : 'not_ready', version: VERSION, ...(r.role ? { role: r.role, leader: r.leader ?? null } : {}), checks: r.checks });
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    });
  }

  const withIdentity = <V extends { id: string }>(v: V): V => {
    if (!d.identity) return v;
    const i = d.identity(v.id);
    return { ...v, identity: i?.state ?? 'none', certNotAfter: i?.certNotAfter ?? null };
  };

  const hostsList = new HostsList({ hosts: d.hosts, ...(d.identities ? { identities: d.identities } : {}), ...(d.identity ? { identity: d.identity } : {}) });
  let lastGzip: { etag: string; body: Buffer } | undefined;

  // All hosts as an array (what existing callers read), or pages: `?limit=N[&after=<id>]` answers
  // `{ hosts, next }` in id order (next = the cursor for the following page, null at the end).
  // `?view=summary` leaves out the inventory (~1 KB per host): what `opsctl hosts` prints.
  // The full view comes from HostsList (cached per-host JSON text) with an ETag (If-None-Match →
  // 304) and gzip when asked.
  http.route('GET', '/api/v1/hosts', async ({ query, req, res }) => {
    const view = query.get('view') ?? 'full';
    if (view !== 'full' && view !== 'summary') throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `view must be "full" or "summary", got "${view}"`);
    const paged = query.has('limit') || query.has('after');
    const limit = paged ? Math.max(1, intParam(query, 'limit', HOSTS_PAGE_DEFAULT, HOSTS_PAGE_MAX)) : undefined;
    const after = query.get('after') ?? undefined;
    if (view === 'summary') {
      const rows: HostSummaryView[] = d.hosts.summaryPage({ after, limit: limit === undefined ? undefined : limit + 1 }).map(withIdentity);
      if (limit === undefined) return rows;
      const more = rows.length > limit;
      const hosts = more ? rows.slice(0, limit) : rows;
      return { hosts, next: more ? hosts.at(-1)!.id : null };
    }
    const snap = hostsList.snapshot({ after, limit });
    if (notModified(req, snap.etag)) {
      res.writeHead(304, { etag: snap.etag, 'cache-control': 'no-cache', vary: 'accept-encoding' }).end();
      return undefined;
    }
    const array = snap.body();
    const body = limit === undefined ? array : Buffer.concat([Buffer.from('{"hosts":'), array, Buffer.from(`,"next":${snap.more ? JSON.stringify(snap.lastId) : 'null'}}`)]);
    await sendJson(req, res, body, snap.etag, lastGzip, (g) => (lastGzip = g));
    return undefined;
  });

  http.route('GET', '/api/v1/hosts/:id', ({ params }) => {
    const h = d.hosts.get(params.id!);
    if (!h) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${params.id}"`);
    return withIdentity(toHostView(h));
  });

  http.route('GET', '/api/v1/hosts/:id/status', async ({ params }) => {
    const h = d.hosts.get(params.id!);
    if (!h) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${params.id}"`);
    if (!h.rpc_endpoint) throw new HttpError(409, 'OPS_ERR_HOST_NO_RPC', `host "${h.id}" announces no RPC endpoint (its config has no rpc section)`);
    const st = await d.agents.getStatus(h.id, h.rpc_endpoint, h.rpc_tls === 1);
    return { host: h.id, rpcEndpoint: h.rpc_endpoint, ...st, startedAt: new Date(st.startedAtMs).toISOString() };
  });

  http.route('GET', '/api/v1/events/rejected', ({ query }) =>
    d.events.rejected(intParam(query, 'limit', 100, 1000)).map((r) => ({ received: new Date(r.received_ms).toISOString(), subject: r.subject, streamSeq: r.stream_seq, reason: r.reason, size: r.size })),
  );

  http.route('GET', '/api/v1/events', ({ query }) => {
    const since = query.get('since');
    return d.events
      .query({
        host: query.get('host') ?? undefined,
        kind: query.get('kind') ?? undefined,
        sinceMs: since === null ? undefined : intParam(query, 'since', 0, Number.MAX_SAFE_INTEGER),
        limit: intParam(query, 'limit', 1000, 100_000),
      })
      .map((r) => ({
        id: r.id,
        hostId: r.host_id,
        kind: r.kind,
        instanceId: r.instance_id,
        seq: r.seq,
        ts: new Date(r.ts_ms).toISOString(),
        received: new Date(r.received_ms).toISOString(),
        payload: JSON.parse(r.payload) as unknown,
      }));
  });
}
