import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type Database from 'better-sqlite3';
import type { ControllerConfig } from '../shared/config/controller.js';
import { join } from 'node:path';
import { errorLine } from '../shared/errors.js';
import { sleep, within, type ComponentStateName } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { connectNatsWithRetry } from '../shared/nats/connect.js';
import { ControllerNatsAuth } from './natsauth/controller-nats-auth.js';
import { redactUrlCredentials } from '../shared/redact-url.js';
import { ensureEventStream } from '../shared/nats/stream.js';
import { VERSION } from '../shared/version.js';
import type { Event } from '../shared/gen/opsfleet/v1/events.js';
import { AlertManager } from './alerts/alert-manager.js';
import { registerBackupActionRoutes, registerBackupRoutes } from './api/backup-routes.js';
import { BackupCatalog } from './backup/catalog.js';
import { registerCheckRoutes } from './api/check-routes.js';
import { ChecksStore } from './checks/checks-store.js';
import { registerAlertRoutes } from './api/alert-routes.js';
import { registerLogRoutes } from './api/log-routes.js';
import { LogIndexer } from './logs/log-indexer.js';
import { HttpServer } from './api/http-server.js';
import { registerRunRoutes } from './api/run-routes.js';
import { AuditLog } from './audit/audit-log.js';
import { RunDispatcher } from './dispatch/run-dispatcher.js';
import { registerAutomationRoutes } from './api/automation-routes.js';
import { Automation } from './automation/automation.js';
import { RunsStore } from './dispatch/runs-store.js';
import { registerRoutes } from './api/routes.js';
import { registerWebDashboard } from './web/dashboard-routes.js';
import { registerDashboardRoutes } from './api/dashboard-routes.js';
import { MetricSeriesReader } from './checks/metric-series.js';
import { FleetView } from './dashboard/fleet-view.js';
import { HostHistory } from './dashboard/host-history.js';
import { LiveFeed } from './dashboard/live-feed.js';
import { FactsStore } from './facts/facts-store.js';
import { AgentClients } from './dispatch/agent-clients.js';
import { ChannelWarmer, type WarmTarget } from './dispatch/channel-warmer.js';
import { Liveness } from './hosts/liveness.js';
import { Ingest, type HostStatusChange, type SeqRegression } from './ingest/ingest.js';
import { openDatabase, verifyDatabase } from './store/db.js';
import { Authenticator } from './auth/authenticator.js';
import { ensureBootstrapToken } from './auth/bootstrap.js';
import { SessionStore } from './auth/sessions.js';
import { TokenStore } from './auth/token-store.js';
import { registerTokenRoutes } from './api/token-routes.js';
import { registerDownloadRoutes } from './api/download-routes.js';
import { defaultDownloadPaths, Downloads } from './downloads/downloads.js';
import { registerPkiRoutes } from './api/pki-routes.js';
import { Enrollment } from './pki/enrollment.js';
import { FleetCa } from './pki/fleet-ca.js';
import { CertExpiryWatch } from './pki/cert-expiry.js';
import { processFaults } from '../shared/process-faults.js';
import { EventsStore } from './store/events-store.js';
import { HostsStore } from './store/hosts-store.js';
import { Pruner } from './store/pruner.js';
import { DiskGuard } from './store/disk-guard.js';
import { WalCheckpointer } from './store/wal-checkpointer.js';
import { SelfBackupScheduler } from './selfbackup/scheduler.js';
import { SoleLeadership, type Leadership } from './ha/leadership.js';
import { defaultHaId, LeaderLease } from './ha/lease.js';
import { Forwarder } from './ha/forward.js';
import { createControlLog, type ManagedControlLog } from './ha/jetstream-control-log.js';
import { replicateTokens } from './replication/tokens.js';
import { replicateSilences } from './replication/silences.js';
import { replicateNotifications } from './replication/notify.js';
import { replicateEnrollment } from './replication/enrollment.js';
import { replicatePolicyPauses } from './replication/policies.js';
import { replicateAudit } from './replication/audit.js';
import { replicatePushedAlerts } from './replication/alerts.js';
import { replicatePolicyTracks } from './replication/policy-tracks.js';
import { replicateTaskSet } from './replication/tasks.js';

/**
 * The controller daemon. Start order: database → NATS + stream → ingest → liveness → pruner →
 * HTTP API; stop is the reverse, ending with a NATS drain and the database close.
 */
export class Controller {
  private st: ComponentStateName = 'new';
  private db: Database.Database | undefined;
  private nc: NatsConnection | undefined;
  private natsConnected = false;
  private ingest: Ingest | undefined;
  private liveness: Liveness | undefined;
  private pruner: Pruner | undefined;
  private diskGuard: DiskGuard | undefined;
  private checkpointer: WalCheckpointer | undefined;
  private readonly selfBackups: SelfBackupScheduler[] = [];
  private dbProbe: { atMs: number; ok: boolean; detail: string } | undefined;
  private alerts: AlertManager | undefined;
  private logIndex: LogIndexer | undefined;
  private checks: ChecksStore | undefined;
  private live: LiveFeed | undefined;
  private backups: BackupCatalog | undefined;
  private readonly eventListeners = new Set<(events: readonly Event[]) => void>();
  private http: HttpServer | undefined;
  private agents: AgentClients | undefined;
  private warmer: ChannelWarmer | undefined;
  private stopping: Promise<void> | undefined;
  private automation: Automation | undefined;
  private runsPruneTimer: NodeJS.Timeout | undefined;
  private enrollment: Enrollment | undefined;
  private certExpiry: CertExpiryWatch | undefined;
  private controlLog: ManagedControlLog | undefined;
  private connecting: Promise<void> | undefined;
  /** Why the controller is degraded, by part (nats, database); empty when all is well. */
  private readonly degraded = new Map<string, string>();
  private readonly abort = new AbortController();
  /** Per-host NATS identities (nats_auth); undefined when off. */
  natsAuth: ControllerNatsAuth | undefined;
  private readonly log: Logger;
  /** HA: this controller's id (`ha.id`, default the hostname). */
  readonly haId: string;
  /** Who leads: SoleLeadership without HA, the KV lease with `ha.enabled`. */
  readonly leadership: Leadership;
  private readonly lease: LeaderLease | undefined;
  private readonly statusListeners = new Set<(c: HostStatusChange) => void>();
  httpPort = 0;

  constructor(
    private readonly cfg: ControllerConfig,
    private readonly logger: Logger,
    /** The config file the daemon was started with: scheduled self-backups carry it, as `backup --to` does. */
    private readonly opts: { configFile?: string } = {},
  ) {
    this.log = logger.child({ component: 'controller' });
    this.haId = cfg.ha.id ?? defaultHaId();
    if (cfg.ha.enabled) {
      this.lease = new LeaderLease({
        id: this.haId,
        url: cfg.ha.advertise_url ?? '',
        ttlMs: cfg.ha.lease_ttl,
        renewMs: cfg.ha.renew_interval,
        replicas: cfg.stream.replicas,
        // A slot's claim outlives any catch-up window a new leader could look back over.
        claimTtlMs: Math.max(3_600_000, 2 * cfg.scheduler.catch_up),
        logger,
      });
      this.leadership = this.lease;
    } else this.leadership = new SoleLeadership(this.haId, cfg.ha.advertise_url ?? '');
  }

  /** Later capabilities (alerting: HostOffline) subscribe to host status changes here. */
  onHostStatus(fn: (c: HostStatusChange) => void): void {
    this.statusListeners.add(fn);
  }

  /** Capabilities that follow stored events (alerting, checks) subscribe here; ingest calls each after commit. */
  onEvents(fn: (events: readonly Event[]) => void): void {
    this.eventListeners.add(fn);
  }

  private emitEvents = (events: Event[]) => {
    for (const fn of this.eventListeners) {
      try {
        fn(events);
      } catch (err) {
        this.log.error({ err }, 'event listener failed');
      }
    }
  };

  private emitStatus = (c: HostStatusChange) => {
    for (const fn of this.statusListeners) {
      try {
        fn(c);
      } catch (err) {
        this.log.error({ err }, 'host status listener failed');
      }
    }
  };

  async start(): Promise<void> {
    this.st = 'starting';
    const cfg = this.cfg;
    this.db = openDatabase(cfg.data_dir);
    await verifyDatabase(cfg.data_dir, this.log);
    if (cfg.ingest.checkpoint === 'worker') {
      this.checkpointer = new WalCheckpointer({ file: join(cfg.data_dir, 'controller.db'), db: this.db, logger: this.logger });
      try {
        await this.checkpointer.start();
      } catch (err) {
        // The controller works without it: SQLite checkpoints in the committing thread, as before.
        this.log.error({ err }, 'WAL checkpoint worker did not start; checkpoints stay inline');
        this.checkpointer = undefined;
      }
    }
    const hosts = new HostsStore(this.db);
    const events = new EventsStore(this.db, cfg.retention.events);
    // Right after the database: the bootstrap token is there even while NATS is still unreachable.
    const audit = new AuditLog(this.db, Date.now, { file: join(cfg.data_dir, 'audit-head.json'), logger: this.logger.child({ component: 'audit' }) });
    const tokens = new TokenStore(this.db);
    ensureBootstrapToken(tokens, audit, cfg.data_dir, this.log);
    // Alerting starts before ingest so every stored alert event and host status change reaches it.
    // HA: only the leader notifies (without HA the manager is built exactly as before).
    this.alerts = new AlertManager({ db: this.db, cfg: cfg.alerting, logger: this.logger, ...(this.lease ? { leadership: this.lease } : {}) });
    // Standby controller (docs/scaling.md, "Control log"): the control-plane changes made here go
    // to the other controller and its changes are applied here. Wired before anything can change
    // (alerting's restored groups may notify at once) and after the bootstrap token (each
    // controller keeps its own). Changes wait in the outbox until NATS is there.
    const controlLog = (this.controlLog = createControlLog(cfg, this.db, this.logger));
    replicateTokens(controlLog, tokens, this.logger);
    replicateSilences(controlLog, this.alerts.silences, this.logger);
    replicateNotifications(controlLog, this.alerts.notifyStore, this.logger);
    replicatePushedAlerts(controlLog, this.alerts, this.logger);
    replicateAudit(controlLog, audit, this.logger);
    this.onHostStatus(this.alerts.onHostStatus);
    await this.alerts.start();
    this.onEvents(this.alerts.onEvents);
    // NATS identities before NATS: the controller connects with the authority's creds.
    this.natsAuth = await ControllerNatsAuth.open(cfg, this.logger, (list) => this.alerts?.push(list));
    this.natsAuth?.start();
    // Metric history in two bounded tiers (1-minute for a day, 10-minute for 30 days), whatever the events retention.
    this.checks = new ChecksStore(this.db, this.logger);
    this.checks.start();
    this.onEvents(this.checks.onEvents);
    // Log statistics and lines: catches up on `log` events stored before a crash, then follows ingest.
    this.logIndex = new LogIndexer(this.db, this.logger, { retentionMs: cfg.retention.events, pruneIntervalMs: cfg.retention.prune_interval });
    this.logIndex.start();
    this.onEvents(this.logIndex.onEvents);
    // Backup catalog: catches up on `backup` events stored before a crash, then follows ingest.
    const backups = (this.backups = new BackupCatalog(this.db, this.logger));
    backups.start();
    this.onEvents(backups.onEvents);

    // Host facts (the agent's inventory) and the dashboard's live stream, fed by the same hooks.
    const facts = new FactsStore(this.db, this.logger);
    this.onEvents(facts.onEvents);
    const live = (this.live = new LiveFeed({ db: this.db, logger: this.logger }));
    live.start();
    facts.onStored(live.factsStored);
    this.onEvents(live.onEvents);
    this.onHostStatus(live.hostStatus);

    this.pruner = new Pruner({ events, intervalMs: cfg.retention.prune_interval, logger: this.logger });
    await this.pruner.start();
    const alerts = this.alerts;
    this.diskGuard = new DiskGuard({
      dir: cfg.data_dir,
      db: this.db,
      events,
      minFreeBytes: cfg.disk_guard.min_free,
      intervalMs: cfg.disk_guard.check_interval,
      pruneFraction: cfg.disk_guard.prune_fraction,
      logger: this.logger,
      raise: (s, resolveTimeoutS) =>
        alerts.push([
          {
            labels: { alertname: 'ControllerDiskLow', severity: 'critical', component: 'controller' },
            annotations: {
              summary: `controller data_dir ${cfg.data_dir}: ${Math.floor(s.freeBytes / 1048576)} MiB free, below disk_guard.min_free ${Math.floor(s.minFreeBytes / 1048576)} MiB`,
              description: `The oldest events are being dropped ahead of retention (${s.tightened} so far) so the database stops growing. Free space on that file system, or lower retention.events.`,
            },
            resolveTimeoutS,
          },
        ]),
    });
    this.diskGuard.start();
    for (const b of cfg.self_backup) {
      const s = new SelfBackupScheduler({
        cfg: b,
        dataDir: cfg.data_dir,
        configFile: this.opts.configFile,
        logger: this.logger,
        timezone: cfg.scheduler.timezone,
        onFailure: (error) =>
          alerts.push([
            {
              labels: { alertname: 'ControllerBackupFailed', severity: 'warning', component: 'controller', backup: b.name },
              annotations: { summary: `scheduled controller backup failed: ${error}`, description: 'The next scheduled run tries again; `opsfleet-controller backup --to FILE` takes one by hand.' },
              resolveTimeoutS: 86_400,
            },
          ]),
      });
      // HA: the leader takes the scheduled backups; a standby starts its schedule when it leads.
      if (this.leadership.isLeader()) s.start();
      this.selfBackups.push(s);
    }
    this.leadership.onChange((leading) => {
      for (const s of this.selfBackups) {
        if (leading) s.start();
        else void s.stop();
      }
    });

    // The fleet CA exists before the API: the first enrollment may come with the first request.
    const ca = FleetCa.open({ dataDir: cfg.data_dir, caCert: cfg.pki.ca_cert, caKey: cfg.pki.ca_key, logger: this.logger });
    ca.ready.catch((err: unknown) => {
      this.log.error({ err }, 'creating the fleet CA failed: enrollment is refused');
      this.degraded.set('pki', `fleet CA unavailable in ${ca.dir}: ${errorLine(err)}`);
    });
    const enrollment = (this.enrollment = new Enrollment({ db: this.db, ca, audit, certLifetimeMs: cfg.pki.cert_lifetime, logger: this.logger, nats: this.natsAuth?.issuer() }));
    replicateEnrollment(controlLog, enrollment, this.logger);
    this.certExpiry = new CertExpiryWatch({ enrollment, alerts: this.alerts, intervalMs: cfg.pki.expiry_check_interval, logger: this.logger });
    this.certExpiry.start();
    this.agents = new AgentClients({
      tls: cfg.rpc_client.tls,
      insecure: cfg.rpc_client.insecure,
      timeoutMs: cfg.rpc_client.timeout,
      identity: { ca: ca.caCertFile, cert: ca.controllerCertFile, key: ca.controllerKeyFile, stateOf: (id) => (enrollment.isRemoved(id) ? 'removed' : enrollment.state(id)) },
    });
    if (!cfg.http.auth.enabled) this.log.warn({ listen: cfg.http.listen.text }, 'http.auth.enabled is false: every API caller is an anonymous admin');
    const auth = new Authenticator(cfg.http.auth, tokens, this.logger, new SessionStore(this.db));
    // HA: a standby passes mutations to the leader, signed with a secret from the shared fleet CA.
    const forward = this.lease
      ? new Forwarder({
          leadership: this.lease,
          secret: () => {
            try {
              return ca.derivedSecret('ha-forward');
            } catch {
              return undefined;
            }
          },
          logger: this.logger,
        })
      : undefined;
    this.http = new HttpServer(this.logger, { guard: auth, ...(cfg.http.tls ? { tls: cfg.http.tls } : {}), ...(forward ? { forward } : {}) });
    registerRoutes(this.http, {
      hosts,
      events,
      agents: this.agents,
      health: () => this.health(events),
      identity: (id) => enrollment.brief(id),
      identities: () => enrollment.briefs(),
      ready: () => this.readiness(),
    });
    registerTokenRoutes(this.http, { tokens, sessions: auth.sessions, audit, playbooks: cfg.playbooks });
    const dl = defaultDownloadPaths();
    registerDownloadRoutes(
      this.http,
      new Downloads({ dir: cfg.downloads.dir ?? dl.dir, script: cfg.downloads.script ?? dl.script, natsServers: cfg.downloads.nats_servers ?? cfg.nats.servers, ...(cfg.downloads.public_url ? { publicUrl: cfg.downloads.public_url } : {}) }),
      { tls: cfg.http.tls !== undefined },
    );
    registerPkiRoutes(this.http, { enrollment, audit, limiter: auth });
    registerAlertRoutes(this.http, this.alerts, audit);
    registerLogRoutes(this.http, this.logIndex);
    registerBackupRoutes(this.http, backups);
    registerCheckRoutes(this.http, { checks: this.checks, hosts, agents: this.agents, events, auth, audit, prewarm: () => this.warmer?.stats() });
    registerDashboardRoutes(this.http, {
      hosts,
      facts,
      agents: this.agents,
      series: new MetricSeriesReader(this.db),
      fleet: new FleetView(this.db),
      history: new HostHistory(this.db),
      live,
      alerts: this.alerts,
    });
    const runs = new RunsStore(this.db);
    const interrupted = runs.markInterrupted(Date.now());
    if (interrupted > 0) this.log.warn({ runs: interrupted }, 'runs cut by the last stop marked interrupted');
    const pruneRuns = () => {
      try {
        const n = runs.prune(Date.now() - cfg.runs.keep);
        if (n > 0) this.log.info({ runs: n }, 'pruned old runs');
      } catch (err) {
        this.log.error({ err }, 'pruning runs failed');
      }
    };
    pruneRuns();
    // Hourly is plenty for a retention counted in days; unref'd so it never holds the process.
    this.runsPruneTimer = setInterval(pruneRuns, 3_600_000);
    this.runsPruneTimer.unref();
    registerBackupActionRoutes(this.http, { hosts, agents: this.agents, audit });
    const dispatcher = new RunDispatcher({
      hosts,
      agents: this.agents,
      runs,
      audit,
      playbooks: cfg.playbooks,
      maxOutputBytes: cfg.runs.max_output_bytes,
      defaultConcurrency: cfg.runs.default_concurrency,
      logger: this.logger,
    });
    registerRunRoutes(this.http, { dispatcher, runs, audit, playbooks: cfg.playbooks });
    const lease = this.lease;
    this.automation = new Automation({
      cfg,
      db: this.db,
      dispatcher,
      audit,
      alerts: this.alerts,
      logger: this.logger,
      // HA: schedules and policies run on the leader; each slot is claimed in KV first.
      ...(lease ? { leadership: lease, claim: (task: string, slotMs: number) => lease.claim('task', task, slotMs), haId: this.haId } : {}),
    });
    replicatePolicyPauses(controlLog, this.automation.remediations, this.logger);
    replicatePolicyTracks(controlLog, this.automation.policyTracks, this.logger);
    replicateTaskSet(controlLog, this.automation, this.logger);
    await this.automation.start();
    registerAutomationRoutes(this.http, this.automation, audit);
    registerWebDashboard(this.http, { auth, alerts: this.alerts, audit, tls: cfg.http.tls !== undefined });
    const addr = await this.http.listen(cfg.http.listen.host, cfg.http.listen.port);
    this.httpPort = addr.port;
    this.st = 'running';
    this.log.info({ version: VERSION, http: `${addr.address}:${addr.port}`, dataDir: cfg.data_dir, stream: cfg.stream.name }, 'controller started');
    // NATS comes last and in the background: a broker that is down at start must not stop the
    // API (operators need /healthz to say why ingest is not running) nor the process (a
    // pending top-level await on unref'd timers exits with code 13).
    this.connecting = this.connectAndIngest(hosts, events).catch((err: unknown) => {
      this.log.error({ err }, 'nats connection loop failed');
      this.degraded.set('nats', `nats connection loop failed: ${errorLine(err)}`);
    });
  }

  /** Connects to NATS (retrying until stop), ensures the stream, then starts ingest and liveness. */
  private async connectAndIngest(hosts: HostsStore, events: EventsStore): Promise<void> {
    const cfg = this.cfg;
    this.degraded.set('nats', `not connected to NATS ${cfg.nats.servers.map(redactUrlCredentials).join(', ')} yet; retrying`);
    this.log.info({ servers: cfg.nats.servers.map(redactUrlCredentials) }, 'connecting to nats');
    let attempt = 0;
    while (!this.abort.signal.aborted) {
      const nc = await connectNatsWithRetry(this.natsAuth?.natsConfig(cfg.nats) ?? cfg.nats, {
        name: 'opsfleet-controller',
        logger: this.log,
        signal: this.abort.signal,
        what: 'retrying',
        onError: (err, n) => this.degraded.set('nats', `cannot connect to NATS (attempt ${n}): ${errorLine(err)}; retrying`),
        onConnectedChange: (up) => (this.natsConnected = up),
      });
      if (!nc) return; // stopped while waiting for NATS
      this.nc = nc;
      this.natsConnected = true;
      try {
        const jsm: JetStreamManager = await ensureEventStream(nc, {
          name: cfg.stream.name,
          maxAgeMs: cfg.stream.max_age,
          maxBytes: cfg.stream.max_bytes,
          duplicateWindowMs: cfg.stream.duplicate_window,
          replicas: cfg.stream.replicas,
        });
        if (this.abort.signal.aborted) return;
        this.ingest = new Ingest({
          nc,
          jsm,
          db: this.db!,
          hosts,
          events,
          stream: cfg.stream.name,
          // HA: each controller consumes the whole stream with its own durable consumer (the standby stays warm).
          durable: this.lease ? `${cfg.stream.consumer}-${this.haId}` : cfg.stream.consumer,
          maxBatch: cfg.ingest.max_batch,
          logger: this.logger,
          onHostStatus: this.emitStatus,
          onEvents: this.emitEvents,
          onSeqRegression: this.onSeqRegression,
          isRemoved: (id) => this.enrollment?.isRemoved(id) ?? false,
          onCorrupt: (err) => this.onCorrupt(err),
          retention: { eventsMs: cfg.retention.events, samplesMs: cfg.retention.samples },
          rawSamples: cfg.ingest.raw_samples,
        });
        await this.ingest.start();
      } catch (err) {
        // JetStream not enabled, no permission on the stream...: keep the API up, say why, retry.
        attempt++;
        this.degraded.set('nats', `event stream ${cfg.stream.name} unavailable: ${errorLine(err)}; retrying`);
        this.log.error({ err, attempt }, 'event stream unavailable; retrying');
        this.ingest = undefined;
        this.nc = undefined;
        this.natsConnected = false;
        await nc.close().catch(() => undefined);
        await sleep(Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)), this.abort.signal);
        continue;
      }
      this.degraded.delete('nats');
      if (this.abort.signal.aborted) return;
      // In the background: it retries by itself and reports through /healthz (controlLog).
      void this.controlLog?.start(nc).catch((err: unknown) => this.log.error({ err }, 'control log failed to start'));
      const ingest = this.ingest!;
      this.liveness = new Liveness({ db: this.db!, hosts, events, offlineAfterMs: cfg.offline_after, logger: this.logger, onHostStatus: this.emitStatus, readThrough: (now) => ingest.readThrough(now) });
      await this.liveness.start();
      // After liveness and ingest: the first sweep reads host statuses as ingest keeps them.
      this.startWarmer(hosts);
      this.log.info({ stream: cfg.stream.name }, 'ingest running');
      // HA: campaign only once ingest runs, so a controller that leads is a warm one.
      this.lease?.start(nc);
      return;
    }
  }

  /** Channels of online, enrolled hosts connected ahead of a run (rpc_client.prewarm, docs/scaling.md). */
  private startWarmer(hosts: HostsStore): void {
    const p = this.cfg.rpc_client.prewarm;
    const agents = this.agents;
    const enrollment = this.enrollment;
    if (!p.enabled || !agents || !enrollment || this.warmer || this.abort.signal.aborted) return;
    // Enrolled hosts only: their certificate must bind the host id, whereas the endpoint of any
    // other host is just what some NATS client announced, not worth dialling unasked. With HA a
    // standby warms too: it dials no RPC, and a run right after a failover finds its channels warm
    // (each agent holds one idle connection per controller).
    const toTarget = (h: { id: string; rpc_endpoint: string; rpc_tls: number }): WarmTarget | undefined =>
      h.rpc_endpoint && h.rpc_tls === 1 && enrollment.state(h.id) === 'enrolled' ? { hostId: h.id, endpoint: h.rpc_endpoint, tls: true } : undefined;
    this.warmer = new ChannelWarmer({
      clients: agents,
      onlineTargets: () => hosts.onlineEndpoints().flatMap((h) => toTarget(h) ?? []),
      target: (id) => {
        const h = hosts.get(id);
        return h?.status === 'online' ? toTarget(h) : undefined;
      },
      perSecond: p.per_second,
      concurrency: p.concurrency,
      connectTimeoutMs: this.cfg.rpc_client.timeout,
      logger: this.logger,
    });
    this.onHostStatus(this.warmer.hostStatus);
    this.warmer.start();
  }

  private onSeqRegression = (r: SeqRegression): void => {
    // An alert the operator sees (it resolves by itself when nobody re-asserts it), beside the
    // counter and the rate-limited warning ingest writes.
    try {
      this.alerts?.push([
        {
          labels: { alertname: 'AgentSequenceRegression', host: r.hostId, severity: 'warning' },
          annotations: { summary: `agent on ${r.hostId} reused or rewound its event sequence (instance ${r.instanceId}, seq ${r.seq}, last ${r.lastSeq}): ${r.how}`, description: 'Its outbox was probably lost or reset while instance.json was kept; events with reused ids are dropped as duplicates. Restart the agent so it takes a new instance id.' },
          resolveTimeoutS: 600,
        },
      ]);
    } catch (err) {
      this.log.error({ err }, 'raising AgentSequenceRegression failed');
    }
  };

  private onCorrupt(err: Error): void {
    // Liveness would fail on the same file every second; HTTP stays up to say why.
    void this.liveness?.stop();
    const file = join(this.cfg.data_dir, 'controller.db');
    this.degraded.set('database', `database ${file} is corrupt (${err.message}); ingest stopped, events wait in the stream. Stop the controller, restore the file from a backup (or move it aside to start empty), then start again`);
  }

  /** What /healthz shows: ok, or degraded with one reason per part that is not working. */
  private health(events: EventsStore): Record<string, unknown> {
    const reasons = [...this.degraded.values()];
    let counters: Record<string, number> = {};
    try {
      counters = events.counters();
    } catch (err) {
      reasons.push(`database unreadable: ${errorLine(err)}`);
    }
    return {
      status: reasons.length ? 'degraded' : 'ok',
      ...(reasons.length ? { reasons } : {}),
      nats: this.natsConnected ? 'connected' : 'disconnected',
      ...(this.natsAuth ? { natsAuth: { ...this.natsAuth.state(), ...this.natsAuth.counters, refused: Object.fromEntries(this.natsAuth.refused) } } : {}),
      ingest: this.ingest?.stats,
      ...(this.checkpointer ? { walCheckpointer: this.checkpointer.stats() } : {}),
      ...this.haStatus(),
      ...(this.controlLog?.state() ? { controlLog: this.controlLog.state() } : {}),
      ...(this.automation?.taskSetStatus() ? { tasks: this.automation.taskSetStatus() } : {}),
      ...(this.agents ? { rpcChannels: { ...this.agents.channelStats(), prewarm: this.warmer ? { enabled: true, ...this.warmer.stats() } : { enabled: false } } } : {}),
      counters,
      unhandledRejections: processFaults.unhandledRejections,
    };
  }

  /** `role` and `leader` (and the lease's counters with HA) for /healthz and /readyz. */
  private haStatus(): { role: 'leader' | 'standby'; leader: { id: string; url: string; since: string } | null; ha?: Record<string, unknown> } {
    const l = this.leadership.leader();
    return {
      role: this.leadership.isLeader() ? 'leader' : 'standby',
      leader: l ? { id: l.id, url: l.url, since: new Date(l.since).toISOString() } : null,
      ...(this.lease ? { ha: this.lease.status() } : {}),
    };
  }

  /** What /readyz shows: each part the controller needs, ok or why not. */
  private readiness(): { ready: boolean; checks: Record<string, { ok: boolean; detail: string }>; role: string; leader: unknown } {
    const nats = this.natsConnected && this.ingest !== undefined && !this.degraded.has('nats');
    const checks: Record<string, { ok: boolean; detail: string }> = {
      nats: { ok: nats, detail: nats ? 'connected, ingest running' : (this.degraded.get('nats') ?? 'disconnected from NATS; reconnecting') },
      database: this.probeDatabase(),
    };
    const disk = this.diskGuard?.state();
    if (disk) checks.disk = { ok: disk.ok, detail: disk.error ?? `${Math.floor(disk.freeBytes / 1048576)} MiB free under ${this.cfg.data_dir} (disk_guard.min_free ${Math.floor(disk.minFreeBytes / 1048576)} MiB)` };
    const { role, leader } = this.haStatus();
    return { ready: Object.values(checks).every((c) => c.ok), checks, role, leader };
  }

  /** One real write (a single-row table) at most once a second: an open route must not write per request. */
  private probeDatabase(): { ok: boolean; detail: string } {
    const now = Date.now();
    if (this.degraded.has('database')) return { ok: false, detail: this.degraded.get('database')! };
    if (this.dbProbe && now - this.dbProbe.atMs < 1000) return this.dbProbe;
    let r: { ok: boolean; detail: string };
    try {
      this.db!.prepare('INSERT INTO readiness_probe (id, at_ms) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms').run(now);
      r = { ok: true, detail: 'writable' };
    } catch (err) {
      r = { ok: false, detail: `database write failed: ${errorLine(err)}` };
    }
    this.dbProbe = { atMs: now, ...r };
    return r;
  }

  /** SIGHUP: reload tasks_dir and the receivers' template files (the rest of controller.yaml needs a restart). */
  async reload(): Promise<void> {
    this.automation?.reload();
    this.alerts?.reload();
  }

  stop(): Promise<void> {
    this.abort.abort();
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.st = 'stopping';
    // Live streams never end by themselves: end them so the HTTP server closes at once.
    this.live?.stop();
    await this.http?.close(1000);
    // HA: give the lease back first so the standby leads at once (leader-only work stops now).
    await within(this.lease?.stop() ?? Promise.resolve(), 3000);
    await within(this.connecting ?? Promise.resolve(), 3000);
    await this.automation?.stop();
    if (this.runsPruneTimer) clearInterval(this.runsPruneTimer);
    await this.liveness?.stop();
    await this.warmer?.stop(1000);
    this.certExpiry?.stop();
    if (this.ingest) await within(this.ingest.stop(), 3000);
    await within(this.controlLog?.stop() ?? Promise.resolve(), 4000);
    await this.pruner?.stop();
    this.diskGuard?.stop();
    await Promise.all(this.selfBackups.map((s) => s.stop()));
    await this.alerts?.stop();
    this.checks?.stop();
    this.logIndex?.stop();
    this.backups?.stop();
    this.agents?.close();
    if (this.nc && !(await within(this.nc.drain(), 2000))) await this.nc.close();
    await within(this.natsAuth?.stop() ?? Promise.resolve(), 2000);
    await within(this.checkpointer?.stop() ?? Promise.resolve(), 3000);
    this.db?.close();
    this.st = 'stopped';
  }

  state(): ComponentStateName {
    return this.st;
  }
}
