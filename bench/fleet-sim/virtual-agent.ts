/**
 * One simulated agent: its own NATS connection (its own options, so per-host credentials slot
 * in), its own host id and instance id, and the event traffic of a real agent at the real
 * cadence, encoded with the real codec and published on the real subjects with the real
 * Nats-Msg-Id. No outbox: a publish that fails is counted and dropped (the bench measures the
 * controller, and a lost event shows as a gap in the counts).
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import { encodeBatchFromEncoded, Event } from '../../shared/events/codec.js';
import { fastCredsAuthenticator } from '../../shared/nats/fast-nkeys.js';
import type { Inventory } from '../../shared/gen/opsfleet/v1/events.js';
import { batchMsgId, eventId, eventSubject, type EventKind } from '../../shared/nats/subjects.js';
import { VERSION } from '../../shared/version.js';

/** How one virtual agent reaches NATS; `credsFile` is the per-host creds of an enrolled agent (identity contract). */
export interface SimNatsOptions {
  servers: string[];
  credsFile?: string;
  user?: string;
  pass?: string;
  token?: string;
}

/** Real agent cadences (config defaults): heartbeat 10 s, metrics 5 s, check results and log stats once a minute. */
export interface SimCadence {
  heartbeatMs: number;
  metricMs: number;
  checkMs: number;
  logStatsMs: number;
}

export const DEFAULT_CADENCE: SimCadence = { heartbeatMs: 10_000, metricMs: 5_000, checkMs: 60_000, logStatsMs: 60_000 };

export interface SimCounters {
  published: number;
  publishErrors: number;
  byKind: Record<string, number>;
}

const CHECKS = [
  { check: 'nginx', type: 'http' },
  { check: 'disk-root', type: 'disk' },
];

export class VirtualAgent {
  readonly instanceId: string;
  private seq = 0;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private readonly startedAt = Date.now();
  private readonly inventory: Inventory;
  /** Next due time per traffic kind (ms since epoch); the worker's scheduler reads these. */
  readonly due: { hb: number; metric: number; check: number; logStats: number };
  private logFlush = 0;
  stopped = false;

  constructor(
    readonly hostId: string,
    private readonly index: number,
    private readonly nats: SimNatsOptions,
    readonly rpcPort: number,
    private readonly cadence: SimCadence,
    private readonly counters: SimCounters,
    tags: Record<string, string>,
    /** Whether the agent's gRPC port speaks TLS with its fleet certificate (what it announces in its inventory). */
    rpcTls = false,
  ) {
    this.instanceId = `sim${Date.now().toString(36)}${index.toString(36)}`;
    const ip = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
    this.inventory = {
      hostId,
      hostname: hostId,
      os: 'linux',
      distro: 'Debian GNU/Linux 12 (bookworm)',
      kernel: '6.1.0-28-amd64',
      arch: 'x64',
      cpuModel: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz',
      cpuCores: 8,
      memoryTotalBytes: 32 * 2 ** 30,
      ipAddresses: [ip],
      tags,
      agentVersion: VERSION,
      bootId: `boot-${hostId}`,
      uptimeS: 86_400,
      rpcEndpoint: `127.0.0.1:${rpcPort}`,
      rpcTls,
    };
    // Random phases, as a real fleet started over minutes: no synchronized bursts.
    const now = Date.now();
    const phase = (every: number) => now + Math.floor(Math.random() * every);
    this.due = { hb: now, metric: phase(cadence.metricMs), check: phase(cadence.checkMs), logStats: phase(cadence.logStatsMs) };
  }

  connectOptions(): NodeConnectionOptions {
    const o: NodeConnectionOptions = {
      servers: this.nats.servers.map((s) => s.replace(/^nats:\/\//, '')),
      name: `opsfleet-agent ${this.hostId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      reconnectJitter: 1000,
      // The agent's own ping: 10k connections at the default 2-minute ping are no load.
      pingInterval: 60_000,
      waitOnFirstConnect: true,
      ignoreAuthErrorAbort: true,
      // An enrolled agent may subscribe only below its own inbox prefix (identity contract).
      ...(this.nats.credsFile ? { inboxPrefix: `_INBOX_${this.hostId}` } : {}),
    };
    // The same creds an enrolled agent reads; the nonce is signed with node:crypto (credsAuthenticator's
    // pure-JS Ed25519 costs ~20 ms per connect: 10,000 agents would spend minutes of CPU connecting).
    if (this.nats.credsFile) o.authenticator = fastCredsAuthenticator(readFileSync(this.nats.credsFile));
    if (this.nats.user !== undefined) {
      o.user = this.nats.user;
      o.pass = this.nats.pass;
    }
    if (this.nats.token !== undefined) o.token = this.nats.token;
    return o;
  }

  /**
   * One connect attempt without retries, closed at once: a worker checks its first agent this
   * way, so refused credentials or a wrong URL fail the bench with the server's reason instead of
   * agents retrying forever (waitOnFirstConnect) while the bench waits for hosts.
   */
  async probe(): Promise<void> {
    const nc = await connect({ ...this.connectOptions(), waitOnFirstConnect: false, reconnect: false, ignoreAuthErrorAbort: false, timeout: 10_000 });
    await nc.close();
  }

  async connect(): Promise<void> {
    this.nc = await connect(this.connectOptions());
    this.js = jetstream(this.nc, { timeout: 10_000 });
  }

  /** Whatever traffic is due at `now`; returns how many messages it started. */
  tick(now: number): number {
    if (this.stopped || !this.js) return 0;
    let n = 0;
    if (now >= this.due.hb) {
      this.due.hb += this.cadence.heartbeatMs;
      this.publish('hb', this.heartbeat(now));
      n++;
    }
    if (now >= this.due.metric) {
      this.due.metric += this.cadence.metricMs;
      this.publish('metric', { json: JSON.stringify(this.metricSample()) });
      n++;
    }
    if (now >= this.due.check) {
      this.due.check += this.cadence.checkMs;
      for (const c of CHECKS) {
        this.publish('check', { json: JSON.stringify({ ...c, event: 'result', state: 'ok', status: 'ok', latency_ms: Math.round(Math.random() * 40), detail: '200 OK' }) });
        n++;
      }
    }
    if (now >= this.due.logStats) {
      this.due.logStats += this.cadence.logStatsMs;
      this.logFlush++;
      const minute = Math.floor(now / 60_000) * 60_000 - 60_000;
      const info = 100 + Math.floor(Math.random() * 400);
      const json = JSON.stringify({ type: 'stats', source: 'syslog', flush: this.logFlush, minute_ms: minute, levels: { info, warn: Math.floor(info / 50), error: Math.floor(info / 400) }, lines: info + Math.floor(info / 50), unparsed: 0, truncated: 0 });
      this.publish('log', { json });
      n++;
    }
    return n;
  }

  private heartbeat(now: number): Pick<Event, 'heartbeat'> {
    return {
      heartbeat: {
        inventory: { ...this.inventory, uptimeS: this.inventory.uptimeS + (now - this.startedAt) / 1000 },
        agentUptimeS: (now - this.startedAt) / 1000,
        outboxDepth: 0,
        outboxEvicted: 0,
        intervalMs: this.cadence.heartbeatMs,
      },
    };
  }

  private metricSample(): Record<string, unknown> {
    return simMetricSample(this.cadence.metricMs);
  }


  private publish(kind: EventKind, payload: Pick<Event, 'heartbeat' | 'json'>): void {
    const seq = ++this.seq;
    const ev: Event = { id: eventId(this.hostId, this.instanceId, seq), hostId: this.hostId, instanceId: this.instanceId, seq, tsMs: Date.now(), kind, ...payload };
    const data = encodeBatchFromEncoded([Event.encode(ev).finish()]);
    this.js!.publish(eventSubject(kind, this.hostId), data, { msgID: batchMsgId(this.hostId, this.instanceId, seq, seq), timeout: 10_000 }).then(
      () => {
        this.counters.published++;
        this.counters.byKind[kind] = (this.counters.byKind[kind] ?? 0) + 1;
      },
      () => {
        if (!this.stopped) this.counters.publishErrors++;
      },
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.nc?.close().catch(() => undefined);
  }
}

/** A metric sample of a busy 8-core, 32 GiB host (random values in realistic ranges), as an agent sends it. */
export function simMetricSample(intervalMs: number): Record<string, unknown> {
  const r = (max: number) => Math.round(Math.random() * max * 10) / 10;
  return {
    interval_ms: intervalMs,
    cpu: { percent: r(60), iowait: r(3), steal: 0, cores: Array.from({ length: 8 }, () => r(100)) },
    load: [r(4), r(4), r(4)],
    load_per_core: r(0.5),
    mem: { total: 34359738368, available: 20000000000 + Math.floor(Math.random() * 1e9), used_percent: r(60) },
    swap: { total: 0, used_percent: 0 },
    disks: [{ mount: '/', device: '/dev/sda1', total: 107374182400, used: 50000000000, used_percent: r(80), inodes_used_percent: r(20), read_bps: Math.floor(Math.random() * 1e6), write_bps: Math.floor(Math.random() * 1e6) }],
    net: [{ iface: 'eth0', rx_bps: Math.floor(Math.random() * 1e7), tx_bps: Math.floor(Math.random() * 1e7) }],
    top_cpu: [{ pid: 1234, name: 'nginx', cpu: r(30), rss: 120_000_000 }],
    top_rss: [{ pid: 2345, name: 'java', cpu: r(10), rss: 2_000_000_000 }],
  };
}