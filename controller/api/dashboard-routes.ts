import { parseDuration } from '../../shared/duration.js';
import { OpsError } from '../../shared/errors.js';
import type { AlertManager } from '../alerts/alert-manager.js';
import { requireHostInScope } from '../auth/scope.js';
import { compileTarget } from '../dispatch/target.js';
import type { AgentClients } from '../dispatch/agent-clients.js';
import { isSeriesRange, SERIES_RANGES, type MetricSeriesReader } from '../checks/metric-series.js';
import type { FleetView } from '../dashboard/fleet-view.js';
import type { HostHistory } from '../dashboard/host-history.js';
import { parseTopics, STREAM_TOPICS, type LiveFeed } from '../dashboard/live-feed.js';
import type { FactsStore } from '../facts/facts-store.js';
import { toTargetHost, type HostRow, type HostsStore } from '../store/hosts-store.js';
import { HttpError, type HttpServer } from './http-server.js';
import type { Principal } from '../auth/principal.js';

export interface DashboardRoutesDeps {
  hosts: HostsStore;
  facts: FactsStore;
  agents: AgentClients;
  series: MetricSeriesReader;
  fleet: FleetView;
  history: HostHistory;
  live: LiveFeed;
  alerts: AlertManager;
  /** Bound on a facts refresh: gathering spawns probes (lsblk, df, dmidecode) on the host. */
  refreshTimeoutMs?: number;
}

function intParam(q: URLSearchParams, name: string, dflt: number, max: number): number {
  const v = q.get(name);
  if (v === null) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `${name} must be a non-negative integer, got "${v}"`);
  return Math.min(n, max);
}

function sinceParam(q: URLSearchParams, dflt: string, nowMs: number): number {
  const v = q.get('since') ?? dflt;
  const ms = parseDuration(v);
  if (ms === undefined) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `since must be a duration like "15m" or "24h", got "${v}"`);
  return nowMs - ms;
}

function hostOr404(hosts: HostsStore, id: string, p: Principal): HostRow {
  const h = hosts.get(id);
  if (!h) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${id}"`);
  requireHostInScope(p, h);
  return h;
}

function targetError(err: unknown): never {
  if (err instanceof OpsError && err.code === 'OPS_ERR_TARGET_SYNTAX') throw new HttpError(400, err.code, err.message);
  throw err;
}

/**
 * What the web dashboard reads (contract: docs/api-dashboard.md):
 *   GET  /api/v1/fleet?target=&status=&q=&offset=&limit=      compact rows, ETag / 304
 *   GET  /api/v1/hosts/:id/facts                                the agent's inventory
 *   POST /api/v1/hosts/:id/facts/refresh                        gathers now (gRPC RefreshFacts)
 *   GET  /api/v1/hosts/:id/metrics/series?range=1h|24h|7d|30d   columnar chart data
 *   GET  /api/v1/hosts/:id/checks/history?since=24h&check=&limit=
 *   GET  /api/v1/hosts/:id/logs/levels?range=1h|24h             per-minute level counts
 *   GET  /api/v1/hosts/:id/timeline?limit=                      recent alerts and events
 *   GET  /api/v1/stream?topics=&host=                           Server-Sent Events
 */
export function registerDashboardRoutes(http: HttpServer, d: DashboardRoutesDeps): void {
  http.route('GET', '/api/v1/fleet', ({ query, req, res, principal }) => {
    const status = query.get('status') ?? undefined;
    if (status !== undefined && status !== 'online' && status !== 'offline') throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `status must be online or offline, got "${status}"`);
    const fq = {
      target: query.get('target') || undefined,
      status,
      q: query.get('q') || undefined,
      scope: principal.target || undefined,
      offset: intParam(query, 'offset', 0, Number.MAX_SAFE_INTEGER),
      limit: Math.max(1, intParam(query, 'limit', 500, 5000)),
    };
    if (fq.target) {
      try {
        compileTarget(fq.target);
      } catch (err) {
        targetError(err);
      }
    }
    const etag = d.fleet.etag(fq);
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag, 'cache-control': 'no-cache' }).end();
      return undefined;
    }
    const body = JSON.stringify(d.fleet.list(fq));
    res.writeHead(200, { etag, 'cache-control': 'no-cache', 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
    return undefined;
  });

  http.route('GET', '/api/v1/hosts/:id/facts', ({ params, principal }) => {
    hostOr404(d.hosts, params.id!, principal);
    const f = d.facts.get(params.id!);
    if (!f) throw new HttpError(404, 'OPS_ERR_FACTS_NONE', `host "${params.id}" has sent no facts yet (agent older than facts, or still gathering: try POST .../facts/refresh)`);
    return f;
  });

  http.route('POST', '/api/v1/hosts/:id/facts/refresh', async ({ params, principal, res }) => {
    const h = hostOr404(d.hosts, params.id!, principal);
    if (!h.rpc_endpoint) throw new HttpError(409, 'OPS_ERR_HOST_NO_RPC', `host "${h.id}" announces no RPC endpoint (its config has no rpc section)`);
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const r = await d.agents.refreshFacts(h.id, h.rpc_endpoint, h.rpc_tls === 1, d.refreshTimeoutMs ?? 120_000, ac.signal);
    let doc: unknown;
    try {
      doc = JSON.parse(r.json) as unknown;
    } catch {
      throw new HttpError(502, 'OPS_ERR_FACTS_BAD', `agent at ${h.rpc_endpoint} answered facts that are not JSON`);
    }
    d.facts.store(h.id, doc, Date.now());
    return d.facts.get(h.id);
  });

  http.route('GET', '/api/v1/hosts/:id/metrics/series', ({ params, query, principal }) => {
    hostOr404(d.hosts, params.id!, principal);
    const range = query.get('range') ?? '1h';
    if (!isSeriesRange(range)) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `range must be one of ${Object.keys(SERIES_RANGES).join(', ')}, got "${range}"`);
    return d.series.read(params.id!, range, Date.now());
  });

  http.route('GET', '/api/v1/hosts/:id/checks/history', ({ params, query, principal }) => {
    hostOr404(d.hosts, params.id!, principal);
    return d.history.checkHistory(params.id!, { sinceMs: sinceParam(query, '24h', Date.now()), check: query.get('check') ?? undefined, limit: Math.max(1, intParam(query, 'limit', 500, 10_000)) });
  });

  http.route('GET', '/api/v1/hosts/:id/logs/levels', ({ params, query, principal }) => {
    hostOr404(d.hosts, params.id!, principal);
    const range = query.get('range') ?? '1h';
    const ms = range === '1h' || range === '24h' ? parseDuration(range)! : undefined;
    if (ms === undefined) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `range must be 1h or 24h, got "${range}"`);
    return d.history.logLevels(params.id!, range, Date.now() - ms);
  });

  http.route('GET', '/api/v1/hosts/:id/timeline', ({ params, query, principal }) => {
    hostOr404(d.hosts, params.id!, principal);
    const limit = Math.max(1, intParam(query, 'limit', 100, 1000));
    const alerts = d.alerts.list('all').filter((a) => a.labels.host === params.id).slice(0, limit);
    return { alerts, events: d.history.timeline(params.id!, limit) };
  });

  http.route('GET', '/api/v1/stream', ({ query, req, res, principal }) => {
    const topics = parseTopics(query.get('topics'));
    if (typeof topics === 'string') throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `topics: unknown "${topics}" (known: ${STREAM_TOPICS.join(', ')})`);
    const host = query.get('host') || undefined;
    if (topics.has('metrics') && !host) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', 'topics=metrics needs host=ID (samples stream per host)');
    if (host) hostOr404(d.hosts, host, principal);
    d.live.attach(req, res, { topics, host, allows: scopeCheck(d.hosts, principal) });
    return undefined;
  });
}

/** Whether a host is inside the caller's token scope; remembered per stream for a minute. */
function scopeCheck(hosts: HostsStore, p: Principal): (hostId: string) => boolean {
  if (!p.target) return () => true;
  const match = compileTarget(p.target);
  const seen = new Map<string, { ok: boolean; at: number }>();
  return (hostId) => {
    if (!hostId) return false;
    const now = Date.now();
    const hit = seen.get(hostId);
    if (hit && now - hit.at < 60_000) return hit.ok;
    const h = hosts.get(hostId);
    const ok = h !== undefined && match(toTargetHost(h));
    if (seen.size > 10_000) seen.clear();
    seen.set(hostId, { ok, at: now });
    return ok;
  };
}
