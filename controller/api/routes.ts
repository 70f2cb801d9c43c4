import type { EventsStore } from '../store/events-store.js';
import { toHostView, type HostsStore, type HostSummaryView, type HostView } from '../store/hosts-store.js';
import type { AgentClients } from '../dispatch/agent-clients.js';
import { HttpError, type HttpServer } from './http-server.js';
import { VERSION } from '../../shared/version.js';

export interface ApiDeps {
  hosts: HostsStore;
  events: EventsStore;
  agents: AgentClients;
  health: () => Record<string, unknown>;
  /** A host's identity (controller/pki), merged into the host views. */
  identity?: (hostId: string) => { state: 'pending' | 'enrolled' | 'removed'; certNotAfter: string | null } | undefined;
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

  // All hosts as an array (what existing callers read), or pages: `?limit=N[&after=<id>]` answers
  // `{ hosts, next }` in id order (next = the cursor for the following page, null at the end).
  // `?view=summary` leaves out the inventory (~1 KB per host): what `opsctl hosts` prints.
  http.route('GET', '/api/v1/hosts', ({ query }) => {
    const view = query.get('view') ?? 'full';
    if (view !== 'full' && view !== 'summary') throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `view must be "full" or "summary", got "${view}"`);
    const paged = query.has('limit') || query.has('after');
    const limit = paged ? Math.max(1, intParam(query, 'limit', HOSTS_PAGE_DEFAULT, HOSTS_PAGE_MAX)) : undefined;
    const q = { after: query.get('after') ?? undefined, limit: limit === undefined ? undefined : limit + 1 };
    const rows: Array<HostView | HostSummaryView> = view === 'summary' ? d.hosts.summaryPage(q).map(withIdentity) : d.hosts.page(q).map((h) => withIdentity(toHostView(h)));
    if (limit === undefined) return rows;
    const more = rows.length > limit;
    const hosts = more ? rows.slice(0, limit) : rows;
    return { hosts, next: more ? hosts.at(-1)!.id : null };
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
