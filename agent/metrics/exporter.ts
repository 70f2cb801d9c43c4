import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpsError } from '../../shared/errors.js';
import type { GetStatusResponse } from '../../shared/gen/opsfleet/v1/agent.js';
import { within } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import type { CheckSnapshot } from '../health/check-runner.js';
import { PROM_CONTENT_TYPE, PromText } from '../../shared/metrics/prom-text.js';
import type { Sample } from '../../shared/metrics/sample.js';

export interface ExporterDeps {
  listen: { host: string; port: number };
  logger: Logger;
  status: () => GetStatusResponse;
  checks: () => CheckSnapshot[];
  sample: () => Sample | undefined;
  samplerStats: () => { samples: number; errors: number; sampleMs: number };
}

/** Renders the agent's internals and its latest host sample as Prometheus text. */
export function renderAgentMetrics(d: Omit<ExporterDeps, 'listen' | 'logger'>): string {
  const p = new PromText();
  const st = d.status();
  p.add('opsfleet_agent_info', 'gauge', 'Agent identity (value is always 1).', 1, { host: st.hostId, version: st.agentVersion, instance: st.instanceId });
  p.add('opsfleet_agent_uptime_seconds', 'gauge', 'Seconds since the agent started.', Math.round(st.uptimeS));
  p.add('opsfleet_outbox_depth', 'gauge', 'Events waiting in the outbox.', st.outboxDepth);
  p.add('opsfleet_outbox_evicted_total', 'counter', 'Events evicted from a full outbox.', st.outboxEvicted);
  p.add('opsfleet_outbox_last_seq', 'counter', 'Sequence number of the last event appended.', st.lastSeq);
  p.add('opsfleet_nats_connected', 'gauge', '1 when connected to NATS.', st.natsConnected ? 1 : 0);
  for (const c of d.checks()) {
    const l = { check: c.name, type: c.type };
    if (c.state !== 'unknown') p.add('opsfleet_check_up', 'gauge', '1 when the check is up, 0 when down (absent while unknown).', c.state === 'up' ? 1 : 0, l);
    p.add('opsfleet_check_latency_seconds', 'gauge', 'Latency of the last probe.', c.latencyMs / 1000, l);
    p.add('opsfleet_check_probes_total', 'counter', 'Probes run.', c.probes, l);
    p.add('opsfleet_check_timeouts_total', 'counter', 'Probes cut at their timeout.', c.timeouts, l);
    p.add('opsfleet_check_restarts_total', 'counter', 'Restart attempts (restart command, supervise respawns).', c.restarts, l);
    p.add('opsfleet_check_gave_up', 'gauge', '1 while restarts have given up (RestartGaveUp).', c.gaveUp ? 1 : 0, l);
  }
  const ss = d.samplerStats();
  p.add('opsfleet_metrics_samples_total', 'counter', 'Resource samples taken.', ss.samples);
  p.add('opsfleet_metrics_sample_errors_total', 'counter', 'Resource samples that failed.', ss.errors);
  p.add('opsfleet_metrics_sample_duration_seconds', 'gauge', 'Time the last sample took.', ss.sampleMs / 1000);
  const s = d.sample();
  if (s) {
    p.add('opsfleet_host_cpu_percent', 'gauge', 'Host CPU busy percent over the last interval.', s.cpu.percent);
    p.add('opsfleet_host_cpu_iowait_percent', 'gauge', 'Host CPU iowait percent.', s.cpu.iowait);
    p.add('opsfleet_host_cpu_steal_percent', 'gauge', 'Host CPU steal percent.', s.cpu.steal);
    p.add('opsfleet_host_load1', 'gauge', 'Load average over 1 minute.', s.load[0]);
    p.add('opsfleet_host_memory_used_percent', 'gauge', 'Memory used (total minus available) percent.', s.mem.used_percent);
    p.add('opsfleet_host_swap_used_percent', 'gauge', 'Swap used percent.', s.swap.used_percent);
    for (const x of s.disks) p.add('opsfleet_host_disk_used_percent', 'gauge', 'Filesystem used percent (as df).', x.used_percent, { mount: x.mount });
    for (const x of s.net) {
      p.add('opsfleet_host_network_receive_bytes_per_second', 'gauge', 'Bytes received per second.', x.rx_bps, { interface: x.iface });
      p.add('opsfleet_host_network_transmit_bytes_per_second', 'gauge', 'Bytes sent per second.', x.tx_bps, { interface: x.iface });
    }
  }
  p.addProcess();
  return p.render();
}

/** GET /metrics for Prometheus scrapers (only when metrics.prometheus.listen is configured). */
export class PrometheusExporter {
  readonly name = 'prometheus';
  private server: Server | undefined;
  private readonly log: Logger;
  port = 0;

  constructor(private readonly d: ExporterDeps) {
    this.log = d.logger.child({ component: 'metrics.prometheus' });
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
        return;
      }
      let body: string;
      try {
        body = renderAgentMetrics(this.d);
      } catch (err) {
        this.log.error({ err }, 'metrics rendering failed');
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { 'content-type': PROM_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) }).end(body);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (err) => reject(new OpsError('OPS_ERR_HTTP_BIND', `cannot listen on ${this.d.listen.host}:${this.d.listen.port}: ${err.message}`, { cause: err })));
      this.server!.listen(this.d.listen.port, this.d.listen.host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.log.info({ host: this.d.listen.host, port: this.port }, 'prometheus metrics listening');
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    if (!(await within(closed, 1000))) s.closeAllConnections();
  }
}
