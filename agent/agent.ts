import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentConfig } from '../shared/config/agent.js';
import type { GetStatusResponse } from '../shared/gen/opsfleet/v1/agent.js';
import { within, type ComponentStateName } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { connectNatsWithRetry } from '../shared/nats/connect.js';
import { agentInboxPrefix } from '../shared/nats/subjects.js';
import { NatsPermissionAlert } from './nats/permission-alert.js';
import { VERSION } from '../shared/version.js';
import { BackupManager } from './backup/backup-manager.js';
import { BackupRemoteOps } from './backup/remote-ops.js';
import { HealthChecks } from './health/health-manager.js';
import { PrometheusExporter } from './metrics/exporter.js';
import { MetricsSampler } from './metrics/sampler.js';
import { sweepHandler } from './sweep/sweep-handler.js';
import { commandService } from './commands/command-service.js';
import { ProcessGroupRecord } from './commands/process-groups.js';
import { Heartbeat } from './heartbeat/heartbeat.js';
import { LogCollector } from './logs/collector.js';
import { collectInventory, ipAddresses } from './heartbeat/inventory.js';
import type { OutboxStore } from './outbox/outbox-store.js';
import { OutboxPublisher } from './outbox/publisher.js';
import { DiskFullGuard } from './outbox/disk-full.js';
import { RpcServer } from './rpc/server.js';
import { FactsCollector } from './facts/facts-collector.js';
import type { StateDir } from './state/state-dir.js';
import { openOutboxWithIdentity } from './outbox/open-outbox.js';
import { readFileSync } from 'node:fs';
import { OpsError } from '../shared/errors.js';
import type { NatsConfig } from '../shared/config/common.js';
import { SwappableCertificates } from './identity/cert-provider.js';
import { enroll } from './identity/enroll.js';
import { IdentityFiles, type IdentityMeta } from './identity/identity-files.js';
import { IdentityRenewer } from './identity/renewer.js';

/**
 * The agent daemon: wires state dir → outbox → publisher → rpc → heartbeat, and stops them in
 * reverse. Lifecycle: new → starting → running → stopping → stopped (or failed).
 */
export class Agent {
  private st: ComponentStateName = 'new';
  private stateDir!: StateDir;
  private outbox!: OutboxStore;
  private publisher!: OutboxPublisher;
  private diskFull: DiskFullGuard | undefined;
  private rpc: RpcServer | undefined;
  private heartbeat!: Heartbeat;
  private health: HealthChecks | undefined;
  private facts: FactsCollector | undefined;
  private backups: BackupManager | undefined;
  private metrics: MetricsSampler | undefined;
  private prom: PrometheusExporter | undefined;
  private logs: LogCollector | undefined;
  private nc: NatsConnection | undefined;
  private natsConnected = false;
  private permissionAlert: NatsPermissionAlert | undefined;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  private natsLoop: Promise<void> | undefined;
  private renewer: IdentityRenewer | undefined;
  private certs: SwappableCertificates | undefined;
  private natsCfg!: NatsConfig;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  rpcEndpoint = '';

  constructor(
    private readonly cfg: AgentConfig,
    private readonly logger: Logger,
  ) {
    this.log = logger.child({ component: 'agent' });
  }

  async start(): Promise<void> {
    this.st = 'starting';
    const cfg = this.cfg;
    const opened = openOutboxWithIdentity(cfg.state_dir, cfg.host.id, { maxEvents: cfg.outbox.max_events, maxBytes: cfg.outbox.max_bytes });
    this.stateDir = opened.stateDir;
    this.outbox = opened.outbox;
    this.facts = new FactsCollector({ sink: this.outbox, logger: this.logger, delayMs: cfg.facts.delay });
    if (this.stateDir.replacedCorrupt) this.log.warn({ reason: this.stateDir.replacedCorrupt }, 'state identity unreadable; made a new instance id');
    if (this.stateDir.newBoot) this.log.info({ instanceId: this.stateDir.instanceId }, 'host booted since the last start; new instance id so no event id can repeat');
    if (this.outbox.movedCorrupt) this.log.error({ movedTo: this.outbox.movedCorrupt }, 'outbox database was corrupt; moved aside and started a new one (its unpublished events are lost)');
    if (opened.renewedFrom) {
      this.log.warn({ previous: opened.renewedFrom, instanceId: this.stateDir.instanceId }, 'outbox is new or was reset while the identity was kept; new instance id so no event id repeats');
    }
    // A full disk must not make the host look dead: heartbeats and alerts keep a reserve.
    this.diskFull = new DiskFullGuard({ outbox: this.outbox, stateDir: cfg.state_dir, hostId: cfg.host.id, logger: this.logger });
    this.diskFull.start();
    this.publisher = new OutboxPublisher(
      this.outbox,
      {
        hostId: cfg.host.id,
        instanceId: this.stateDir.instanceId,
        batchMaxEvents: cfg.outbox.batch_max_events,
        batchMaxBytes: cfg.outbox.batch_max_bytes,
        maxInFlight: cfg.outbox.max_in_flight,
      },
      this.logger,
    );
    this.publisher.start();

    const identity = await this.identity();
    const tags = { ...cfg.host.tags, ...(identity?.tags ?? {}) };
    this.natsCfg = this.natsConfig(identity);

    // Shell steps a killed agent left running (their group outlived it) are killed first.
    const record = new ProcessGroupRecord(cfg.state_dir);
    record.reapLeftovers(this.log);
    if (cfg.rpc) {
      if (cfg.rpc.identity) {
        if (!identity) throw new OpsError('OPS_ERR_IDENTITY_MISSING', `rpc.identity is true but ${new IdentityFiles(cfg.state_dir).dir} holds no identity: run opsfleet-agent enroll, or add an enroll section`);
        this.certs = new SwappableCertificates(this.identityPem());
      }
      this.rpc = new RpcServer({ host: cfg.rpc.listen.host, port: cfg.rpc.listen.port, insecure: cfg.rpc.insecure, acceptAnyClient: cfg.rpc.accept_any_client, tls: cfg.rpc.tls, identity: this.certs }, { getStatus: () => this.status(), sweep: sweepHandler(this.logger), resetRestarts: (check) => this.health?.resetRestarts(check) ?? { found: false, state: '', restarting: false }, refreshFacts: async () => JSON.stringify(await this.facts!.refresh()), backup: new BackupRemoteOps(() => this.backups, this.logger) }, this.logger);
      const commands = commandService(
        { allowShell: cfg.rpc.allow_shell, allowPlaybooks: cfg.rpc.allow_playbooks, shell: cfg.rpc.shell.path, cwd: cfg.rpc.shell.cwd, record },
        this.logger,
      );
      this.rpc.addService(commands.definition, commands.implementation);
      const port = await this.rpc.start();
      this.rpcEndpoint = cfg.rpc.advertise ?? `${advertiseHost(cfg.rpc.listen.host)}:${port}`;
    } else {
      this.log.warn('no rpc section: the controller cannot reach this agent (add rpc: { listen, tls } to enable)');
    }

    if (identity) {
      this.renewer = new IdentityRenewer({ stateDir: cfg.state_dir, meta: identity, ca: cfg.enroll?.ca, logger: this.logger, onRenewed: () => this.certs?.update(this.identityPem()) });
      this.renewer.start();
    }
    const inventory = collectInventory({ hostId: cfg.host.id, tags, rpcEndpoint: this.rpcEndpoint, rpcTls: !!cfg.rpc?.tls || !!cfg.rpc?.identity });
    this.heartbeat = new Heartbeat({ outbox: this.outbox, inventory, intervalMs: cfg.heartbeat_interval, logger: this.logger });
    await this.heartbeat.start();
    this.health = new HealthChecks({ checks: this.cfg.checks, sink: this.outbox, logger: this.logger });
    await this.health.start();
    this.metrics = new MetricsSampler({ cfg: this.cfg.metrics, sink: this.outbox, logger: this.logger });
    await this.metrics.start();
    if (this.cfg.metrics.prometheus) {
      const m = this.metrics;
      this.prom = new PrometheusExporter({ listen: this.cfg.metrics.prometheus.listen, logger: this.logger, status: () => this.status(), checks: () => this.health?.snapshots() ?? [], sample: () => m.latest, samplerStats: () => m.stats });
      await this.prom.start();
    }
    // Log tailing appends to the outbox (durable on return) before moving its checkpoints.
    this.logs = new LogCollector({ config: cfg.logs, sink: this.outbox, stateDir: cfg.state_dir, logger: this.logger });
    await this.logs.start();
    // A backup set that cannot start is reported and left out; start() never throws.
    this.backups = new BackupManager({ sets: cfg.backups, hostId: cfg.host.id, stateDir: cfg.state_dir, sink: this.outbox, logger: this.logger });
    await this.backups.start();
    if (cfg.facts.gather_on_start) this.facts.start();

    // NATS may be down (or refuse us) when the agent starts: events wait in the outbox while
    // this loop keeps connecting with backoff, for as long as the agent runs.
    this.permissionAlert = new NatsPermissionAlert({ sink: this.outbox, hostId: cfg.host.id, logger: this.logger });
    this.natsLoop = this.runNats().catch((err: unknown) => this.log.error({ err }, 'nats loop failed'));

    this.st = 'running';
    this.log.info(
      { hostId: cfg.host.id, instanceId: this.stateDir.instanceId, version: VERSION, rpc: this.rpcEndpoint || null, outboxDepth: this.outbox.stats().depth },
      'agent started',
    );
  }

  /**
   * The host's enrolled identity: read from <state_dir>/identity, or obtained at this first start
   * through the `enroll` section (a pending host waits up to enroll.wait, then the start fails
   * and the service manager tries again).
   */
  private async identity(): Promise<IdentityMeta | undefined> {
    const files = new IdentityFiles(this.cfg.state_dir);
    const meta = files.read();
    if (meta) {
      if (meta.host_id !== this.cfg.host.id) throw new OpsError('OPS_ERR_IDENTITY_MISSING', `${files.dir} holds the identity of host "${meta.host_id}" but host.id is "${this.cfg.host.id}": keep the id, or move the folder aside and enroll again`);
      return meta;
    }
    const e = this.cfg.enroll;
    if (!e) return undefined;
    this.log.info({ controller: e.controller, hostId: this.cfg.host.id }, 'enrolling with the controller');
    const r = await enroll({ stateDir: this.cfg.state_dir, hostId: this.cfg.host.id, controllerUrl: e.controller, token: e.token, tags: this.cfg.host.tags, ca: e.ca, waitMs: e.wait, signal: this.abort.signal, logger: this.log });
    this.log.info({ hostId: r.meta.host_id, notAfter: r.meta.not_after }, 'enrolled');
    return r.meta;
  }

  private identityPem(): { ca: Buffer; cert: Buffer; key: Buffer } {
    const f = new IdentityFiles(this.cfg.state_dir);
    return { ca: readFileSync(f.caFile), cert: readFileSync(f.certFile), key: readFileSync(f.keyFile) };
  }

  /** NATS credentials: the config's, or else the per-host .creds the controller issued at enrollment. */
  private natsConfig(identity: IdentityMeta | undefined): NatsConfig {
    const n = this.cfg.nats;
    if (!identity || n.user !== undefined || n.token !== undefined || n.creds_file !== undefined) return n;
    const files = new IdentityFiles(this.cfg.state_dir);
    return files.hasCreds() ? { ...n, creds_file: files.credsFile } : n;
  }

  private async runNats(): Promise<void> {
    while (!this.stopping) {
      const nc = await connectNatsWithRetry(this.natsCfg, {
        name: `opsfleet-agent ${this.cfg.host.id}`,
        logger: this.log,
        signal: this.abort.signal,
        what: 'events stay in the outbox, retrying',
        // The agent's NATS user may subscribe only under its own inbox prefix (docs/identity.md).
        inboxPrefix: agentInboxPrefix(this.cfg.host.id),
        onConnectedChange: (up) => (this.natsConnected = up),
        onAsyncError: this.permissionAlert?.onError,
      });
      if (!nc) return;
      this.nc = nc;
      this.natsConnected = true;
      this.publisher.attach(nc);
      const closedWith = await nc.closed();
      this.natsConnected = false;
      if (this.stopping) return;
      this.log.warn({ err: closedWith }, 'nats connection closed; connecting again');
    }
  }

  status(): GetStatusResponse {
    const ob = this.outbox.stats();
    return {
      hostId: this.cfg.host.id,
      instanceId: this.stateDir.instanceId,
      agentVersion: VERSION,
      uptimeS: (Date.now() - this.startedAt) / 1000,
      outboxDepth: ob.depth,
      outboxEvicted: ob.evictedTotal,
      lastSeq: ob.lastSeq,
      natsConnected: this.natsConnected,
      startedAtMs: this.startedAt,
      components: [
        ...(this.diskFull?.full ? [{ name: 'disk', ...this.diskFull.state() }] : []),
        { name: 'outbox', state: ob.depth > this.cfg.outbox.max_events * 0.9 ? 'degraded' : 'running', detail: `depth ${ob.depth}, evicted ${ob.evictedTotal}` },
        { name: 'publisher', state: this.natsConnected && !this.publisher.lastError ? 'running' : 'degraded', detail: this.publisher.lastError ?? (this.natsConnected ? 'connected' : 'nats not connected') },
        { name: 'heartbeat', state: this.heartbeat.state().state, detail: `${this.heartbeat.beats} beats` },
        ...(this.health ? [{ name: 'health', ...this.health.state() }] : []),
        ...(this.metrics ? [{ name: 'metrics', ...this.metrics.state() }] : []),
        ...(this.logs ? [{ name: 'logs', ...this.logs.state() }] : []),
        ...(this.backups ? [{ name: 'backup', ...this.backups.state() }] : []),
        ...(this.facts ? [{ name: 'facts', ...this.facts.state() }] : []),
        { name: 'rpc', state: this.rpc ? 'running' : 'stopped', detail: this.rpcEndpoint },
        ...(this.renewer ? [{ name: 'identity', ...this.renewer.state() }] : []),
      ],
    };
  }

  /** Drains: stop producing, try to flush the outbox, drain NATS. Bounded by shutdown_grace. */
  stop(): Promise<void> {
    this.abort.abort();
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.st = 'stopping';
    const grace = this.cfg.shutdown_grace;
    const deadline = Date.now() + grace;
    const left = () => Math.max(0, deadline - Date.now());
    this.facts?.stop();
    await this.backups?.stop(Math.min(5000, left() / 2));
    await this.logs?.stop();
    await this.prom?.stop();
    await this.metrics?.stop();
    await this.health?.stop(Math.min(6000, left()));
    await this.heartbeat?.stop();
    this.renewer?.stop();
    if (this.rpc) await this.rpc.stop(Math.min(1000, left()));
    if (this.nc && this.natsConnected) {
      const flushed = await this.publisher.flush(Math.min(left() / 2, 3000));
      if (!flushed) this.log.warn({ depth: this.outbox.stats().depth }, 'outbox not empty at stop; events stay on disk for the next start');
    }
    await this.publisher?.stop(Math.min(1000, left()));
    this.diskFull?.stop();
    if (this.nc) {
      if (!(await within(this.nc.drain(), Math.min(2000, left())))) await this.nc.close();
    }
    await within(this.natsLoop ?? Promise.resolve(), 500);
    if (this.outbox) {
      const ob = this.outbox.stats();
      this.log.info({ lastSeq: ob.lastSeq, outboxDepth: ob.depth }, 'agent components stopped');
      this.outbox.close();
    }
    this.st = 'stopped';
  }

  state(): ComponentStateName {
    return this.st;
  }
}

/** A wildcard listen address is not dialable: announce the first real address instead. */
function advertiseHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') {
    const ip = ipAddresses()[0] ?? '127.0.0.1';
    return ip.includes(':') ? `[${ip}]` : ip;
  }
  return host.includes(':') ? `[${host}]` : host;
}
