import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type Database from 'better-sqlite3';
import type { ControllerConfig } from '../shared/config/controller.js';
import { within, type ComponentStateName } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { connectNatsWithRetry } from '../shared/nats/connect.js';
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
import { AgentClients } from './dispatch/agent-clients.js';
import { Liveness } from './hosts/liveness.js';
import { Ingest, type HostStatusChange } from './ingest/ingest.js';
import { openDatabase } from './store/db.js';
import { EventsStore } from './store/events-store.js';
import { HostsStore } from './store/hosts-store.js';
import { Pruner } from './store/pruner.js';

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
  private alerts: AlertManager | undefined;
  private logIndex: LogIndexer | undefined;
  private checks: ChecksStore | undefined;
  private backups: BackupCatalog | undefined;
  private readonly eventListeners = new Set<(events: readonly Event[]) => void>();
  private http: HttpServer | undefined;
  private agents: AgentClients | undefined;
  private stopping: Promise<void> | undefined;
  private automation: Automation | undefined;
  private runsPruneTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly statusListeners = new Set<(c: HostStatusChange) => void>();
  httpPort = 0;

  constructor(
    private readonly cfg: ControllerConfig,
    private readonly logger: Logger,
  ) {
    this.log = logger.child({ component: 'controller' });
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
    const hosts = new HostsStore(this.db);
    const events = new EventsStore(this.db);
    // Alerting starts before ingest so every stored alert event and host status change reaches it.
    this.alerts = new AlertManager({ db: this.db, cfg: cfg.alerting, logger: this.logger });
    this.onHostStatus(this.alerts.onHostStatus);
    await this.alerts.start();
    this.onEvents(this.alerts.onEvents);
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

    this.log.info({ servers: cfg.nats.servers.map(redactUrlCredentials) }, 'connecting to nats');
    const nc = await connectNatsWithRetry(cfg.nats, {
      name: 'opsfleet-controller',
      logger: this.log,
      signal: this.abort.signal,
      what: 'retrying',
      onConnectedChange: (up) => (this.natsConnected = up),
    });
    if (!nc) return; // stopped while waiting for NATS
    this.nc = nc;
    this.natsConnected = true;
    const jsm: JetStreamManager = await ensureEventStream(this.nc, {
      name: cfg.stream.name,
      maxAgeMs: cfg.stream.max_age,
      maxBytes: cfg.stream.max_bytes,
      duplicateWindowMs: cfg.stream.duplicate_window,
      replicas: cfg.stream.replicas,
    });

    this.ingest = new Ingest({
      nc: this.nc,
      jsm,
      db: this.db,
      hosts,
      events,
      stream: cfg.stream.name,
      durable: cfg.stream.consumer,
      maxBatch: cfg.ingest.max_batch,
      logger: this.logger,
      onHostStatus: this.emitStatus,
      onEvents: this.emitEvents,
    });
    await this.ingest.start();

    this.liveness = new Liveness({ db: this.db, hosts, events, offlineAfterMs: cfg.offline_after, logger: this.logger, onHostStatus: this.emitStatus });
    await this.liveness.start();

    this.pruner = new Pruner({ events, retentionMs: cfg.retention.events, intervalMs: cfg.retention.prune_interval, logger: this.logger });
    await this.pruner.start();

    this.agents = new AgentClients({ tls: cfg.rpc_client.tls, insecure: cfg.rpc_client.insecure, timeoutMs: cfg.rpc_client.timeout });
    this.http = new HttpServer(this.logger);
    registerRoutes(this.http, {
      hosts,
      events,
      agents: this.agents,
      health: () => ({ nats: this.natsConnected ? 'connected' : 'disconnected', ingest: this.ingest?.stats, counters: events.counters() }),
    });
    registerAlertRoutes(this.http, this.alerts);
    registerLogRoutes(this.http, this.logIndex);
    registerBackupRoutes(this.http, backups);
    registerCheckRoutes(this.http, { checks: this.checks, hosts, agents: this.agents, events });
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
    const audit = new AuditLog(this.db);
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
    this.automation = new Automation({ cfg, db: this.db, dispatcher, audit, alerts: this.alerts, logger: this.logger });
    await this.automation.start();
    registerAutomationRoutes(this.http, this.automation);
    const addr = await this.http.listen(cfg.http.listen.host, cfg.http.listen.port);
    this.httpPort = addr.port;
    this.st = 'running';
    this.log.info({ version: VERSION, http: `${addr.address}:${addr.port}`, dataDir: cfg.data_dir, stream: cfg.stream.name }, 'controller started');
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
    await this.http?.close(1000);
    await this.automation?.stop();
    if (this.runsPruneTimer) clearInterval(this.runsPruneTimer);
    await this.liveness?.stop();
    if (this.ingest) await within(this.ingest.stop(), 3000);
    await this.pruner?.stop();
    await this.alerts?.stop();
    this.checks?.stop();
    this.logIndex?.stop();
    this.backups?.stop();
    this.agents?.close();
    if (this.nc && !(await within(this.nc.drain(), 2000))) await this.nc.close();
    this.db?.close();
    this.st = 'stopped';
  }

  state(): ComponentStateName {
    return this.st;
  }
}
