import type { EventsStore } from '../store/events-store.js';
import { toHostView, type HostsStore, type HostView } from '../store/hosts-store.js';
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

  const withIdentity = (v: HostView): HostView => {
    if (!d.identity) return v;
    const i = d.identity(v.id);
    return { ...v, identity: i?.state ?? 'none', certNotAfter: i?.certNotAfter ?? null };
  };

  http.route('GET', '/api/v1/hosts', () => d.hosts.list().map((h) => withIdentity(toHostView(h))));

  http.route('GET', '/api/v1/hosts/:id', ({ params }) => {
    const h = d.hosts.get(params.id!);
    if (!h) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${params.id}"`);
    return withIdentity(toHostView(h));
  });

  http.route('GET', '/api/v1/hosts/:id/status', async ({ params }) => {
    const h = d.hosts.get(params.id!);
    if (!h) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${params.id}"`);
    if (!h.rpc_endpoint) throw new HttpError(409, 'OPS_ERR_HOST_NO_RPC', `host "${h.id}" announces no RPC endpoint (its config has no rpc section)`);
    const st = await d.agents.getStatus(h.rpc_endpoint, h.rpc_tls === 1, undefined, h.id);
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
