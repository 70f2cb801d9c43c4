import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { parseDuration } from '../../shared/duration.js';
import type { SweepResponse } from '../../shared/gen/opsfleet/v1/agent.js';
import { toCheckView, type ChecksStore } from '../checks/checks-store.js';
import { rpcError, type AgentClients } from '../dispatch/agent-clients.js';
import type { ChannelWarmerStats } from '../dispatch/channel-warmer.js';
import type { EventsStore } from '../store/events-store.js';
import type { HostsStore } from '../store/hosts-store.js';
import { PROM_CONTENT_TYPE, PromText } from '../../shared/metrics/prom-text.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Authenticator } from '../auth/authenticator.js';
import { requireHostInScope } from '../auth/scope.js';
import { processFaults } from '../../shared/process-faults.js';
import { HttpError, type HttpServer } from './http-server.js';

export interface CheckRoutesDeps {
  checks: ChecksStore;
  hosts: HostsStore;
  agents: AgentClients;
  /** For /metrics: the controller's own counters (events ingested, duplicates, rejected). */
  events?: EventsStore;
  /** For /metrics: refused requests by reason. */
  auth?: Authenticator;
  /** reset-restarts is an operator action: audited under the caller's token. */
  audit?: AuditLog;
  /** For /metrics: the channel warmer's counters (undefined while it is off or not started). */
  prewarm?: () => ChannelWarmerStats | undefined;
}

const CHECK_STATES = new Set(['unknown', 'up', 'down']);

/**
 * Check and metric state, and sweeps from an agent:
 *   GET /api/v1/checks?host=H&state=down
 *   GET /api/v1/hosts/:id/metrics            latest sample (with top processes)
 *   GET /api/v1/hosts/:id/metrics/history?since=MS   1-minute buckets
 *   GET /api/v1/hosts/:id/sweep?targets=..&ports=..&concurrency=N&timeout=2s   NDJSON stream
 *   POST /api/v1/hosts/:id/checks/:name/reset-restarts
 */
export function registerCheckRoutes(http: HttpServer, d: CheckRoutesDeps): void {
  registerCheckActionRoutes(http, d);

  // Prometheus scrape endpoint: fleet and controller internals for existing Grafana setups.
  http.route('GET', '/metrics', ({ res }) => {
    const p = new PromText();
    for (const [name, value] of Object.entries(d.events?.counters() ?? {})) p.add('opsfleet_controller_counter_total', 'counter', 'Controller counters (events_ingested, events_duplicate, messages_rejected...).', value, { counter: name });
    // Counted by SQLite: reading every row (with its inventory and facts) to count them held the event loop ~50 ms per scrape at 5,000 hosts.
    for (const [status, n] of d.hosts.countByStatus()) p.add('opsfleet_hosts', 'gauge', 'Hosts by status.', n, { status });
    for (const c of d.checks.list()) {
      if (c.state !== 'unknown') p.add('opsfleet_check_up', 'gauge', '1 when the check is up, 0 when down, as last reported by the host.', c.state === 'up' ? 1 : 0, { host: c.host_id, check: c.name, type: c.type });
      p.add('opsfleet_check_restarts_total', 'counter', 'Restart attempts reported by the host.', c.restarts, { host: c.host_id, check: c.name, type: c.type });
    }
    for (const [reason, n] of Object.entries(d.auth?.refused ?? {})) p.add('opsfleet_api_auth_refused_total', 'counter', 'API requests refused by authentication or authorization, by reason.', n, { reason });
    for (const [state, n] of Object.entries(d.agents.channelStats())) p.add('opsfleet_rpc_channels', 'gauge', 'gRPC channels to agents kept by the controller: open, and of those ready (connected) and connecting.', n, { state });
    const warm = d.prewarm?.();
    if (warm) {
      for (const [outcome, n] of [['warmed', warm.warmed], ['failed', warm.failed], ['over_budget', warm.overBudget]] as const) p.add('opsfleet_rpc_prewarm_total', 'counter', 'Channel warmer connects by outcome (over_budget: not tried, the channel budget was spent).', n, { outcome });
      p.add('opsfleet_rpc_prewarm_pending', 'gauge', 'Hosts waiting for a warmer connect, or connecting.', warm.queued + warm.warming);
    }
    p.add('opsfleet_unhandled_rejections_total', 'counter', 'Promise rejections nobody handled (each is a bug; logged with its stack).', processFaults.unhandledRejections);
    p.addProcess();
    const body = p.render();
    res.writeHead(200, { 'content-type': PROM_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) }).end(body);
  });
  http.route('GET', '/api/v1/checks', ({ query }) => {
    const state = query.get('state') ?? undefined;
    if (state !== undefined && !CHECK_STATES.has(state)) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `state must be unknown, up or down, got "${state}"`);
    return d.checks.list({ host: query.get('host') ?? undefined, state }).map(toCheckView);
  });

  http.route('GET', '/api/v1/hosts/:id/metrics', ({ params }) => {
    const latest = d.checks.latestSample(params.id!);
    if (!latest) {
      if (!d.hosts.get(params.id!)) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${params.id}"`);
      throw new HttpError(404, 'OPS_ERR_METRICS_NONE', `host "${params.id}" has sent no metric sample yet (metrics disabled or just started)`);
    }
    return { host: params.id, ts: new Date(latest.tsMs).toISOString(), sample: latest.sample };
  });

  http.route('GET', '/api/v1/hosts/:id/metrics/history', ({ params, query }) => {
    const since = Number(query.get('since') ?? Date.now() - 3_600_000);
    if (!Number.isFinite(since)) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', 'since must be milliseconds since the epoch');
    return d.checks.history(params.id!, since).map((r) => ({ ts: new Date(r.bucket_ms).toISOString(), ...r }));
  });

  http.route('GET', '/api/v1/hosts/:id/sweep', async ({ params, query, req, res, principal }) => {
    const h = d.hosts.get(params.id!);
    if (!h) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${params.id}"`);
    requireHostInScope(principal, h);
    if (!h.rpc_endpoint) throw new HttpError(409, 'OPS_ERR_HOST_NO_RPC', `host "${h.id}" announces no RPC endpoint (its config has no rpc section)`);
    const targets = (query.get('targets') ?? '').split(',').filter(Boolean);
    if (targets.length === 0) throw new HttpError(400, 'OPS_ERR_SWEEP_INPUT', 'targets is required (like 10.0.0.0/24,db-1:5432)');
    const ports = (query.get('ports') ?? '').split(',').filter(Boolean);
    const concurrency = Number(query.get('concurrency') ?? 0);
    const timeoutText = query.get('timeout');
    const timeoutMs = timeoutText ? parseDuration(timeoutText) : 0;
    if (!Number.isInteger(concurrency) || concurrency < 0) throw new HttpError(400, 'OPS_ERR_SWEEP_INPUT', 'concurrency must be a positive integer');
    if (timeoutMs === undefined) throw new HttpError(400, 'OPS_ERR_SWEEP_INPUT', `timeout must be a duration like "2s", got "${timeoutText}"`);
    // Port ranges ("8000-8010") are expanded by the agent; send each token as written.
    const portNums: number[] = [];
    for (const p of ports) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(p);
      if (!m) throw new HttpError(400, 'OPS_ERR_SWEEP_INPUT', `ports: "${p}" is not a port or range`);
      const a = Number(m[1]);
      const b = Number(m[2] ?? m[1]);
      if (a < 1 || b > 65535 || a > b) throw new HttpError(400, 'OPS_ERR_SWEEP_INPUT', `ports: "${p}" is outside 1-65535 or reversed`);
      for (let x = a; x <= b; x++) portNums.push(x);
    }
    const client = d.agents.client(h.id, h.rpc_endpoint, h.rpc_tls === 1);
    const stream = client.sweep({ targets, ports: portNums, concurrency, timeoutMs }, new Metadata());
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
    };
    req.on('close', () => stream.cancel());
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (b: SweepResponse) => {
        start();
        for (const r of b.results) res.write(`${JSON.stringify(r)}\n`);
        if (b.summary) res.write(`${JSON.stringify({ summary: b.summary })}\n`);
      });
      stream.on('error', (err: ServiceError) => {
        const e = rpcError(h.rpc_endpoint, err);
        if (!started) {
          const status = err.code === 3 ? 400 : e.code === 'OPS_ERR_RPC_UNAVAILABLE' ? 504 : 502;
          reject(new HttpError(status, err.code === 3 ? 'OPS_ERR_SWEEP_INPUT' : e.code, err.code === 3 ? err.details : e.message));
          return;
        }
        res.end(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`);
        resolve();
      });
      // 'status' (not 'end') is final: a failed call may end its readable side before 'error'.
      stream.on('status', (st: { code: number }) => {
        if (st.code !== 0) return;
        start();
        res.end();
        resolve();
      });
    });
  });
}

/** POST /api/v1/hosts/:id/checks/:name/reset-restarts: the operator action after RestartGaveUp. */
export function registerCheckActionRoutes(http: HttpServer, d: Pick<CheckRoutesDeps, 'hosts' | 'agents' | 'audit'>): void {
  http.route('POST', '/api/v1/hosts/:id/checks/:name/reset-restarts', async ({ params, principal }) => {
    const h = d.hosts.get(params.id!);
    if (!h) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${params.id}"`);
    requireHostInScope(principal, h);
    if (!h.rpc_endpoint) throw new HttpError(409, 'OPS_ERR_HOST_NO_RPC', `host "${h.id}" announces no RPC endpoint (its config has no rpc section)`);
    const client = d.agents.client(h.id, h.rpc_endpoint, h.rpc_tls === 1);
    const r = await new Promise<{ found: boolean; state: string; restarting: boolean }>((resolve, reject) => {
      client.resetRestarts({ check: params.name! }, new Metadata(), { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(rpcError(h.rpc_endpoint, err)) : resolve(res)));
    });
    if (!r.found) throw new HttpError(404, 'OPS_ERR_CHECK_NOT_FOUND', `host "${h.id}" has no check "${params.name}"`);
    d.audit?.append(principal.name, 'check.reset_restarts', `${h.id}/${params.name}`, { state: r.state, restarting: r.restarting });
    return { host: h.id, check: params.name, state: r.state, restarting: r.restarting };
  });
}
