import type { Logger } from 'pino';

/** A host the controller may dial: what its last heartbeat announced. */
export interface WarmTarget {
  hostId: string;
  endpoint: string;
  tls: boolean;
}

/** What the warmer needs of AgentClients (a fake in the limiter's unit test). */
export interface WarmableClients {
  readonly channelBudget: number;
  readonly channelIdleMs: number;
  readonly channelCount: number;
  connect(hostId: string, endpoint: string, tls: boolean, timeoutMs: number): Promise<void>;
  isReady(hostId: string, endpoint: string, tls: boolean, touch?: boolean): boolean;
  hasChannel(hostId: string, endpoint: string, tls: boolean): boolean;
  onLeaveReady(hostId: string, endpoint: string, tls: boolean, fn: () => void): boolean;
}

export interface ChannelWarmerDeps {
  clients: WarmableClients;
  /** Online, enrolled hosts with an endpoint, right now (read at start and at every sweep). */
  onlineTargets: () => WarmTarget[];
  /** The target of one host if it is online and one to warm (an endpoint, enrolled); undefined otherwise. */
  target: (hostId: string) => WarmTarget | undefined;
  /** Connects started per second at most (`rpc_client.prewarm.per_second`). */
  perSecond: number;
  /** Connects in flight at most (`rpc_client.prewarm.concurrency`). */
  concurrency: number;
  /** How long one connect may take (`rpc_client.timeout`). */
  connectTimeoutMs: number;
  /** How often the online hosts are swept (default a third of the idle timeout, at most 10 min). */
  sweepMs?: number;
  /** How long after a warm channel drops its connection it is connected again (default 5 s: an agent restarting is back by then). */
  rewarmDelayMs?: number;
  logger: Logger;
}

/** The warmer's counters for /healthz (`rpcChannels.prewarm`). */
export interface ChannelWarmerStats {
  /** Hosts waiting for a connect slot. */
  queued: number;
  /** Connects in flight. */
  warming: number;
  /** Connects that reached READY, failed, and hosts not warmed because the channel budget was spent (since start). */
  warmed: number;
  failed: number;
  overBudget: number;
  /** Warm channels that dropped their connection and were queued again. */
  rewarms: number;
  /** When the last sweep of the online hosts ran (ISO time), and how many it queued. */
  lastSweep: string | null;
  lastSweepQueued: number;
}

/**
 * Keeps the gRPC channels of online, enrolled hosts connected ahead of a run (issue 18): a
 * cold channel makes a fleet-wide run pay a TLS handshake per host on the controller's CPU
 * (~9 ms each on a loaded 2-core machine, 60–97 s at 5,000 hosts, docs/scaling.md), a warm one
 * nothing. Like a Salt master whose minions hold a connection, except that the controller
 * dials, so it dials at its own pace: at most `perSecond` connects start per second and
 * `concurrency` are in flight, so a restart with 10,000 online hosts spreads its handshakes
 * (50 s at the default 200/s) instead of bursting them.
 *
 * What sets it off: a host's online transition (`hostStatus`, from ingest), and a sweep of the
 * online hosts at start and every `sweepMs` (hosts already online when the controller starts
 * emit no transition; an agent that restarted on another port announces a new endpoint with no
 * transition either).
 *
 * The idle timeout (grpc.client_idle_timeout_ms, 30 min) would silently undo the warming: a
 * warm channel without calls drops its connection after it. The sweep therefore touches
 * (counts as activity) the READY channel of every host still online, every third of the idle
 * timeout, so those channels stay connected for as long as their host is online; channels of
 * hosts that went offline or were removed are not touched and close by the idle timeout or the
 * existing close-on-remove. Touching was chosen over raising the idle timeout (which would keep
 * offline hosts' sockets too) and over re-warming after idle (a handshake per host every 30 min
 * for nothing): an idle HTTP/2 connection costs one socket and no CPU, within `maxChannels`.
 *
 * A warm channel whose connection drops (the agent restarted: a fleet upgrade does it to every
 * host, with no offline transition) is not reconnected by grpc-js without a call pending, so the
 * warmer queues it again `rewarmDelayMs` later, once per drop, if the host is still online.
 *
 * A failed connect is logged at debug and not retried by the warmer until the host's next
 * online transition or the next sweep (minutes apart): never a loop on an unreachable host.
 * The budget: the warmer never creates a channel past `maxChannels` (it would evict a
 * channel in use), it counts the host in `overBudget` instead.
 */
export class ChannelWarmer {
  private readonly log: Logger;
  /** Hosts to connect, one entry per host (a newer endpoint replaces the queued one): bounded by the fleet. */
  private readonly queue = new Map<string, WarmTarget>();
  private readonly inFlight = new Set<string>();
  private readonly sweepMs: number;
  /** Token bucket: at most `perSecond` a second, bursts of at most a tenth of that. */
  private tokens: number;
  private readonly burst: number;
  private refilledAt = 0;
  private pumpTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private idle: (() => void) | undefined;
  private readonly counts = { warmed: 0, failed: 0, overBudget: 0, rewarms: 0 };
  /** Re-warms waiting for their delay, by host: at most one per host. */
  private readonly rewarmTimers = new Map<string, NodeJS.Timeout>();
  private lastSweep: { atMs: number; queued: number } | undefined;

  constructor(private readonly d: ChannelWarmerDeps) {
    this.log = d.logger.child({ component: 'dispatch.warmer' });
    this.sweepMs = d.sweepMs ?? Math.min(10 * 60_000, Math.floor(d.clients.channelIdleMs / 3));
    this.burst = Math.max(1, Math.ceil(d.perSecond / 10));
    this.tokens = this.burst;
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.refilledAt = performance.now();
    this.log.info({ perSecond: this.d.perSecond, concurrency: this.d.concurrency, sweepMs: this.sweepMs, budget: this.d.clients.channelBudget }, 'channel warmer started');
    this.sweep();
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepMs);
    this.sweepTimer.unref();
  }

  /** Host status listener (Controller.onHostStatus): an online transition queues the host. */
  readonly hostStatus = (c: { hostId: string; to: string }): void => {
    if (!this.running || c.to !== 'online') return;
    let t: WarmTarget | undefined;
    try {
      t = this.d.target(c.hostId);
    } catch (err) {
      this.log.error({ err, hostId: c.hostId }, 'reading the host to warm failed');
      return;
    }
    if (t) this.enqueue(t);
  };

  /** Touches the warm channels of online hosts (keeps them past the idle timeout) and queues the others. */
  sweep(): void {
    if (!this.running) return;
    let targets: WarmTarget[];
    try {
      targets = this.d.onlineTargets();
    } catch (err) {
      this.log.error({ err }, 'listing the online hosts to warm failed');
      return;
    }
    let queued = 0;
    for (const t of targets) {
      if (this.d.clients.isReady(t.hostId, t.endpoint, t.tls, true)) continue;
      if (this.enqueue(t)) queued++;
    }
    this.lastSweep = { atMs: Date.now(), queued };
    if (queued > 0) this.log.debug({ online: targets.length, queued }, 'channel warmer sweep');
  }

  private enqueue(t: WarmTarget): boolean {
    if (this.inFlight.has(t.hostId)) return false;
    this.queue.delete(t.hostId);
    this.queue.set(t.hostId, t);
    this.pump();
    return true;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.d.perSecond) / 1000);
    this.refilledAt = now;
  }

  private pump(): void {
    if (!this.running || this.pumpTimer) return;
    this.refill();
    while (this.queue.size > 0 && this.inFlight.size < this.d.concurrency && this.tokens >= 1) {
      const [hostId, t] = this.queue.entries().next().value as [string, WarmTarget];
      this.queue.delete(hostId);
      if (this.d.clients.isReady(t.hostId, t.endpoint, t.tls)) continue;
      // A new channel past the budget would close the least recently used one, maybe a run's.
      if (!this.d.clients.hasChannel(t.hostId, t.endpoint, t.tls) && this.d.clients.channelCount >= this.d.clients.channelBudget) {
        this.counts.overBudget++;
        continue;
      }
      this.tokens -= 1;
      this.connect(t);
    }
    // Waiting for a token (not for a slot: a finished connect pumps again).
    if (this.queue.size > 0 && this.inFlight.size < this.d.concurrency && this.tokens < 1) {
      const waitMs = Math.ceil(((1 - this.tokens) * 1000) / this.d.perSecond);
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, waitMs);
      this.pumpTimer.unref();
    }
  }

  private connect(t: WarmTarget): void {
    this.inFlight.add(t.hostId);
    const done = () => {
      this.inFlight.delete(t.hostId);
      if (this.inFlight.size === 0) this.idle?.();
      this.pump();
    };
    this.d.clients.connect(t.hostId, t.endpoint, t.tls, this.d.connectTimeoutMs).then(
      () => {
        this.counts.warmed++;
        this.d.clients.onLeaveReady(t.hostId, t.endpoint, t.tls, () => this.rewarmLater(t.hostId));
        done();
      },
      (err: unknown) => {
        this.counts.failed++;
        // Expected for a host that just went down: debug only; the next transition or sweep tries again.
        this.log.debug({ hostId: t.hostId, endpoint: t.endpoint, err }, 'warming a channel failed');
        done();
      },
    );
  }

  /** One re-warm per drop, after a delay, only if the host is still online and one to warm then. */
  private rewarmLater(hostId: string): void {
    if (!this.running || this.rewarmTimers.has(hostId)) return;
    const timer = setTimeout(() => {
      this.rewarmTimers.delete(hostId);
      if (!this.running) return;
      let t: WarmTarget | undefined;
      try {
        t = this.d.target(hostId);
      } catch (err) {
        this.log.error({ err, hostId }, 'reading the host to warm failed');
        return;
      }
      if (t && this.enqueue(t)) this.counts.rewarms++;
    }, this.d.rewarmDelayMs ?? 5000);
    timer.unref();
    this.rewarmTimers.set(hostId, timer);
  }

  stats(): ChannelWarmerStats {
    return {
      queued: this.queue.size,
      warming: this.inFlight.size,
      ...this.counts,
      lastSweep: this.lastSweep ? new Date(this.lastSweep.atMs).toISOString() : null,
      lastSweepQueued: this.lastSweep?.queued ?? 0,
    };
  }

  /**
   * Stops queuing and starting connects; waits (bounded by `graceMs`) for those in flight, which
   * end by their own deadline. The channels stay: AgentClients closes them at its own stop.
   */
  stop(graceMs = 1000): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.running = false;
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      if (this.pumpTimer) clearTimeout(this.pumpTimer);
      this.pumpTimer = undefined;
      for (const t of this.rewarmTimers.values()) clearTimeout(t);
      this.rewarmTimers.clear();
      this.queue.clear();
      if (this.inFlight.size === 0) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        t.unref();
        this.idle = () => {
          clearTimeout(t);
          resolve();
        };
      });
    })();
    return this.stopping;
  }
}
