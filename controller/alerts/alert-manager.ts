import type Database from 'better-sqlite3';
import type { AlertingConfig } from '../../shared/config/alerting.js';
import { errorLine, OpsError } from '../../shared/errors.js';
import type { Event } from '../../shared/gen/opsfleet/v1/events.js';
import type { Logger } from '../../shared/logger.js';
import type { HostStatusChange } from '../ingest/ingest.js';
import { createReceiver } from '../notify/index.js';
import { TemplateStore } from '../notify/templates.js';
import { ReceiverWorker, type PendingNotification } from '../notify/worker.js';
import type { AlertView } from '../notify/types.js';
import { AlertsStore, type ApplyOutcome } from './alerts-store.js';
import { Dispatcher } from './dispatcher.js';
import type { Leadership } from '../ha/leadership.js';
import { fingerprint } from './fingerprint.js';
import { Inhibitor } from './inhibitor.js';
import { formatMatcher, type Matcher } from '../../shared/alerts/matchers.js';
import { alertFromApi, alertFromEvent, toAlertView, type AlertRecord, type AlertState, type ApiAlert, type IncomingAlert } from './model.js';
import { NotifyStore } from '../notify/notify-store.js';
import { GroupStore } from './group-store.js';
import { groupOf, mentionsFor, Router } from './router.js';
import { Silences, silenceStatus, type Silence } from './silences.js';

export const HOST_OFFLINE = 'HostOffline';

/** A batch of alerts accepted from the API or an intake route, as of `atMs` (controller time). */
export interface PushedAlerts {
  atMs: number;
  alerts: readonly IncomingAlert[];
}

export interface AlertManagerDeps {
  db: Database.Database;
  cfg: AlertingConfig;
  logger: Logger;
  now?: () => number;
  /** HA: only the leader notifies (absent: always). */
  leadership?: Leadership;
}

/** An alert as the API shows it: with what mutes it. */
export interface AlertApiView extends AlertView {
  source: string;
  updatedAt: string;
  silencedBy: string[];
  inhibitedBy: string[];
}

/** One step of a route's path from the top of the routing tree: its id and its own matchers. */
export interface RouteStepView {
  id: string;
  matchers: string[];
}

/**
 * An aggregation group as the API shows it (`GET /api/v1/alerts/groups`, like Alertmanager's
 * /api/v2/alerts/groups): the route that groups it, its group_by values and its alerts.
 */
export interface AlertGroupView {
  groupKey: string;
  route: {
    id: string;
    /** From the top-level route down to this one; an alert reaches it when every step's matchers match. */
    path: RouteStepView[];
    receivers: string[];
    groupBy: string[];
    continue: boolean;
  };
  /** The group_by labels and the values this group has (a label the alerts lack is absent). */
  labels: Record<string, string>;
  /** Firing alerts first, then resolved ones still waiting for their resolved notice. */
  alerts: AlertApiView[];
  /** Per receiver, when it was last told about this group (null: not yet). */
  notified: Array<{ receiver: string; at: string | null }>;
  /** When the group is next flushed (null: never, e.g. alerting stopping). */
  nextFlushAt: string | null;
}

export interface SilenceView {
  id: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  createdAt: string;
  status: string;
}

/**
 * The controller's alerting: takes alert events from ingest, host status changes and API pushes,
 * keeps alert state by fingerprint in SQLite, resolves alerts nobody re-asserts, groups, silences,
 * inhibits and routes them to receivers. Start after the database; stop before it closes.
 */
export class AlertManager {
  readonly name = 'alerts';
  readonly alerts: AlertsStore;
  readonly silences: Silences;
  readonly notifyStore: NotifyStore;
  readonly inhibitor: Inhibitor;
  readonly dispatcher: Dispatcher;
  readonly templates: TemplateStore;
  readonly groupStore: GroupStore;
  readonly router: Router;
  readonly workers = new Map<string, ReceiverWorker>();
  /** Alerts received through each intake endpoint. */
  readonly intakeStats: Record<string, number> = {};
  readonly stats = { alertEvents: 0, malformed: 0, new: 0, refired: 0, resolved: 0, refreshed: 0, stale: 0, unknown: 0, expired: 0, notifyFailed: 0 };
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly addCounter;
  private readonly pushListeners = new Set<(p: PushedAlerts) => void>();

  constructor(private readonly d: AlertManagerDeps) {
    this.now = d.now ?? Date.now;
    this.log = d.logger.child({ component: 'alerts' });
    this.alerts = new AlertsStore(d.db);
    this.silences = new Silences(d.db, this.now, this.log);
    this.notifyStore = new NotifyStore(d.db);
    this.inhibitor = new Inhibitor(d.cfg.inhibit);
    const receiverCfg = new Map(d.cfg.receivers.map((r) => [r.name, r]));
    this.groupStore = new GroupStore(d.db);
    this.templates = new TemplateStore(d.cfg.receivers, this.log);
    this.router = new Router(d.cfg);
    this.dispatcher = new Dispatcher({
      router: this.router,
      store: this.notifyStore,
      logger: d.logger,
      now: this.now,
      muted: (a) => this.silences.silencedBy(a.labels).length > 0 || this.inhibitor.inhibitedBy(a.labels, a.fingerprint).length > 0,
      sendResolved: (r) => receiverCfg.get(r)?.send_resolved ?? true,
      enqueue: (r, n) => this.workers.get(r)?.enqueue(n),
      groups: this.groupStore,
      stormGroups: d.cfg.storm_groups,
      ...(d.leadership ? { mayNotify: () => d.leadership!.isLeader() } : {}),
    });
    d.leadership?.onChange((leading) => {
      if (leading) this.dispatcher.resume();
    });
    const fallback = d.cfg.fallback_receiver;
    for (const rc of d.cfg.receivers) {
      this.workers.set(
        rc.name,
        new ReceiverWorker({
          receiver: createReceiver(rc, { now: this.now, externalUrl: d.cfg.external_url, templates: this.templates }),
          store: this.notifyStore,
          logger: d.logger,
          retry: d.cfg.retry,
          now: this.now,
          onDelivered: (items) => this.delivered(items),
          onFailed: (items, from, wasFallback) => this.failed(items, from, wasFallback || fallback === rc.name),
          heldElsewhere: (item) => [...this.workers.values()].some((w) => w.name !== rc.name && w.holds(item)),
        }),
      );
    }
    this.addCounter = d.db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value');
  }

  async start(): Promise<void> {
    // Rebuild groups from SQLite: firing alerts, and resolved ones someone may still need to hear about.
    const firing = this.alerts.list('firing', 1_000_000);
    this.route(firing);
    const horizon = this.now() - Math.max(this.d.cfg.repeat_interval, 3_600_000);
    const resolved = this.alerts.resolvedSince(horizon);
    if (this.d.cfg.enabled) for (const a of resolved) this.dispatcher.insert(a);
    this.groupStore.retainOnly(this.dispatcher.keys());
    this.sweepTimer = setInterval(() => this.sweep(), this.d.cfg.sweep_interval);
    this.sweepTimer.unref();
    this.log.info({ firing: firing.length, groups: this.dispatcher.groupCount, receivers: [...this.workers.keys()], routes: this.d.cfg.routes.length }, 'alerting started');
  }

  /** Ingest hook: every newly stored event; only kind `alert` matters. Never throws. */
  onEvents = (events: readonly Event[]): void => {
    try {
      this.ingestEvents(events);
    } catch (err) {
      // Ingest already committed these events; alerting must never stall or crash it.
      this.log.error({ err, events: events.length }, 'alert events could not be processed');
    }
  };

  private ingestEvents(events: readonly Event[]): void {
    const incoming: IncomingAlert[] = [];
    let malformed = 0;
    for (const e of events) {
      if (e.kind !== 'alert') continue;
      this.stats.alertEvents++;
      try {
        incoming.push(alertFromEvent(e));
      } catch (err) {
        malformed++;
        this.log.warn({ eventId: e.id, hostId: e.hostId, reason: errorLine(err) }, 'malformed alert event skipped');
      }
    }
    if (malformed) {
      this.stats.malformed += malformed;
      try {
        this.addCounter.run('alert_events_malformed', malformed);
      } catch (err) {
        this.log.error({ err }, 'counting malformed alert events failed');
      }
    }
    if (incoming.length) this.apply(incoming);
  }

  /** Ingest/liveness hook: HostOffline fires when a host goes offline and resolves when it returns. */
  onHostStatus = (c: HostStatusChange): void => {
    const labels = { alertname: HOST_OFFLINE, host: c.hostId, severity: 'critical' };
    const now = this.now();
    if (c.to === 'offline') {
      this.apply([{ state: 'firing', labels, annotations: { summary: `host ${c.hostId} is offline`, description: c.reason }, startsAtMs: c.atMs, endsAtMs: 0, resolveTimeoutMs: -1, source: 'controller', eventTsMs: now }]);
    } else if (c.to === 'online') {
      this.apply([{ state: 'resolved', labels, annotations: {}, startsAtMs: 0, endsAtMs: c.atMs, resolveTimeoutMs: -1, source: 'controller', eventTsMs: now }]);
    }
  };

  /**
   * Alerts the controller raises about itself (disk guard, its backups, sequence regressions):
   * this controller's own, never replicated. Returns their fingerprints.
   */
  push(list: readonly ApiAlert[]): string[] {
    const now = this.now();
    const inc = list.map((a) => alertFromApi(a, now));
    this.apply(inc);
    return inc.map((a) => fingerprint(a.labels));
  }

  /**
   * Alerts pushed by other tools through `POST /api/v1/alerts`. They exist nowhere else (no
   * event stream carries them), so they are handed to onPushed (the control log). Returns their
   * fingerprints.
   */
  pushFromApi(list: readonly ApiAlert[]): string[] {
    const now = this.now();
    const inc = list.map((a) => alertFromApi(a, now));
    this.applyPushed(inc, now);
    return inc.map((a) => fingerprint(a.labels));
  }

  /**
   * Alerts from Prometheus, Alertmanager or Grafana (already mapped by intake.ts); counted per
   * source and handed to onPushed like pushFromApi. Returns how many were stored.
   */
  intake(list: readonly IncomingAlert[]): number {
    const out = this.applyPushed(list, this.now());
    for (const a of list) this.intakeStats[a.source] = (this.intakeStats[a.source] ?? 0) + 1;
    return out.length;
  }

  private applyPushed(list: readonly IncomingAlert[], atMs: number): ApplyOutcome[] {
    const out = this.apply(list, atMs);
    if (out.length === 0) return out;
    for (const fn of this.pushListeners) {
      try {
        fn({ atMs, alerts: list });
      } catch (err) {
        this.log.error({ err }, 'push listener failed');
      }
    }
    return out;
  }

  /** Hears every batch of alerts accepted from the API or an intake route (the control log publishes them). */
  onPushed(fn: (p: PushedAlerts) => void): () => void {
    this.pushListeners.add(fn);
    return () => this.pushListeners.delete(fn);
  }

  /**
   * Alerts another controller accepted from the API (control log), applied as of `atMs` (when
   * the origin applied them, so expiry and start times agree on both): the same dedupe,
   * grouping and resolution as a push here; only the leader's dispatcher notifies.
   */
  applyRemote(p: PushedAlerts): ApplyOutcome[] {
    return this.apply(p.alerts, p.atMs);
  }

  /** Stores assertions in one transaction, then lets dispatch and inhibition see the changes. */
  apply(list: readonly IncomingAlert[], now = this.now()): ApplyOutcome[] {
    const changed: AlertRecord[] = [];
    const outcomes: ApplyOutcome[] = [];
    try {
      this.d.db.transaction(() => {
        for (const inc of list) {
          const { outcome, alert } = this.alerts.apply(inc, now, this.d.cfg.resolve_timeout);
          outcomes.push(outcome);
          this.stats[outcome]++;
          if (alert && outcome !== 'stale') changed.push(alert);
        }
      })();
    } catch (err) {
      this.log.error({ err, alerts: list.length }, 'storing alerts failed');
      return [];
    }
    this.route(changed);
    return outcomes;
  }

  /** Periodic: resolve alerts nobody re-asserted, refresh silences, prune history. */
  sweep(): void {
    try {
      const now = this.now();
      const expired = this.d.db.transaction(() => this.alerts.expire(now))();
      if (expired.length) {
        this.stats.expired += expired.length;
        this.log.info({ alerts: expired.length }, 'alerts resolved by resolve_timeout');
        this.route(expired);
      }
      this.silences.reload();
      const before = now - this.d.cfg.retention;
      this.alerts.prune(before);
      this.notifyStore.prune(before);
      this.silences.prune(before);
    } catch (err) {
      this.log.error({ err }, 'alert sweep failed');
    }
  }

  /** Lets inhibition and grouping see changed alerts; with `enabled: false` alerts are only stored. */
  private route(changed: readonly AlertRecord[]): void {
    for (const a of changed) this.inhibitor.observe(a);
    if (!this.d.cfg.enabled) return;
    // One transaction for the group rows a burst creates (one write per new group).
    this.d.db.transaction(() => {
      for (const a of changed) {
        try {
          this.dispatcher.insert(a);
        } catch (err) {
          this.log.error({ err, fingerprint: a.fingerprint }, 'grouping an alert failed');
        }
      }
    })();
  }

  private delivered(items: PendingNotification[]): void {
    try {
      for (const n of items) this.dispatcher.delivered(n);
    } catch (err) {
      this.log.error({ err }, 'recording a delivered notification failed');
    }
  }

  /** Counts a failed delivery (persistently) and hands it to the fallback receiver when there is one. */
  private failed(items: PendingNotification[], from: string, noFallback: boolean): boolean {
    this.stats.notifyFailed++;
    try {
      this.addCounter.run('notifications_failed', 1);
    } catch (err) {
      this.log.error({ err }, 'counting a failed notification failed');
    }
    const fb = this.d.cfg.fallback_receiver ? this.workers.get(this.d.cfg.fallback_receiver) : undefined;
    if (!fb || noFallback) return false;
    this.log.warn({ from, to: fb.name, notifications: items.length }, 'handing notifications to the fallback receiver');
    for (const n of items) fb.enqueue(n, from);
    return true;
  }

  view(a: AlertRecord): AlertApiView {
    return {
      ...toAlertView(a),
      source: a.source,
      updatedAt: new Date(a.updatedMs).toISOString(),
      silencedBy: a.state === 'firing' ? this.silences.silencedBy(a.labels) : [],
      inhibitedBy: a.state === 'firing' ? this.inhibitor.inhibitedBy(a.labels, a.fingerprint) : [],
    };
  }

  /**
   * Appends a line to the alert's `remediation` annotation (self-healing says what it tried),
   * so its next notification, e.g. the resolved one, carries it.
   */
  annotateRemediation(fp: string, line: string): void {
    const cur = this.alerts.get(fp);
    if (!cur) return;
    const prev = cur.annotations.remediation;
    const updated = this.alerts.annotate(fp, 'remediation', prev ? `${prev}; ${line}` : line);
    // The groups hold their own copy of each alert: refresh it so the next notification
    // (repeat or resolved) carries the note. Only annotations changed, so nothing is re-sent now.
    if (updated && this.d.cfg.enabled) this.dispatcher.insert(updated);
  }

  /**
   * Sends a one-off message (task results, escalations) to named receivers through their
   * normal workers: same rate limits, retries, notification log and fallback.
   */
  notifyDirect(receivers: readonly string[], n: { key: string; title: string; text: string; labels: Record<string, string> }): string[] {
    const now = new Date(this.now()).toISOString();
    const alert: AlertView = {
      fingerprint: fingerprint({ ...n.labels, key: n.key }),
      status: 'firing',
      labels: n.labels,
      annotations: { summary: n.title, description: n.text },
      startsAt: now,
      endsAt: null,
      count: 1,
    };
    const unknown: string[] = [];
    for (const r of receivers) {
      const w = this.workers.get(r);
      if (!w) {
        unknown.push(r);
        continue;
      }
      w.enqueue({ receiver: r, group: { groupKey: `direct:${n.key}`, groupLabels: { alertname: n.labels.alertname ?? 'Notice' }, status: 'firing', firing: [alert], resolved: [] }, firingFps: [], resolvedFps: [] });
    }
    if (unknown.length) this.log.error({ receivers: unknown, key: n.key }, 'notification for unknown receivers dropped');
    return unknown;
  }

  list(state: AlertState | 'all'): AlertApiView[] {
    return this.alerts.list(state).map((a) => this.view(a));
  }

  /** The dispatcher's aggregation groups, sorted by route id then group key. */
  groups(): AlertGroupView[] {
    const byId = new Map(this.router.all().map((r) => [r.id, r]));
    const order = (a: AlertApiView) => (a.status === 'firing' ? 0 : 1);
    return this.dispatcher
      .snapshot()
      .sort((a, b) => a.route.id.localeCompare(b.route.id) || a.key.localeCompare(b.key))
      .map((g) => {
        // Ids spell the path (`route0.1` is the second child of `route0`), so the ancestors are its prefixes.
        const parts = g.route.id.split('.');
        const path = parts.map((_, i) => byId.get(parts.slice(0, i + 1).join('.'))).filter((r) => r !== undefined);
        const alerts = g.alerts
          .map((a) => this.view(a))
          .sort((a, b) => order(a) - order(b) || a.startsAt.localeCompare(b.startsAt) || a.fingerprint.localeCompare(b.fingerprint));
        return {
          groupKey: g.key,
          route: { id: g.route.id, path: path.map((r) => ({ id: r.id, matchers: r.matchers.map(formatMatcher) })), receivers: g.route.receivers, groupBy: g.route.groupBy, continue: g.route.continue },
          labels: g.labels,
          alerts,
          notified: g.route.receivers.map((r) => {
            const e = this.notifyStore.get(g.key, r);
            return { receiver: r, at: e ? new Date(e.tsMs).toISOString() : null };
          }),
          nextFlushAt: g.dueMs === undefined ? null : new Date(g.dueMs).toISOString(),
        };
      });
  }

  get(fp: string): AlertApiView | undefined {
    const a = this.alerts.get(fp);
    return a ? this.view(a) : undefined;
  }

  silenceView(s: Silence): SilenceView {
    return {
      id: s.id,
      matchers: s.matchers,
      startsAt: new Date(s.startsAtMs).toISOString(),
      endsAt: new Date(s.endsAtMs).toISOString(),
      createdBy: s.createdBy,
      comment: s.comment,
      createdAt: new Date(s.createdMs).toISOString(),
      status: silenceStatus(s, this.now()),
    };
  }

  /** Sends a test message through one receiver now and returns the channel's answer. */
  async testReceiver(name: string): Promise<{ receiver: string; ok: boolean; detail: string; code?: string }> {
    const w = this.workers.get(name);
    if (!w) throw new OpsError('OPS_ERR_RECEIVER_UNKNOWN', `no receiver "${name}" (configured: ${[...this.workers.keys()].join(', ') || 'none'})`);
    const now = new Date(this.now()).toISOString();
    const alert: AlertView = {
      fingerprint: '0000000000000000',
      status: 'firing',
      labels: { alertname: 'OpsfleetTest', host: 'controller', severity: 'info' },
      annotations: { summary: `opsfleet test message for receiver ${name}`, description: 'sent by opsctl notify test; no action needed' },
      startsAt: now,
      endsAt: null,
      count: 1,
    };
    const r = await w.test({ kind: 'test', merged: 1, groups: [{ groupKey: 'test', groupLabels: { alertname: 'OpsfleetTest' }, status: 'firing', firing: [alert], resolved: [] }] });
    return { receiver: name, ...r };
  }

  /** SIGHUP: re-reads the receivers' template files (a file that fails keeps its previous template). */
  reload(): string[] {
    return this.templates.reload();
  }

  /**
   * What a receiver would send for these alerts (as one group of the route they reach, or of
   * their alertname), rendered with its current template, without sending.
   */
  preview(name: string, list: readonly ApiAlert[]): { receiver: string; type: string; body: unknown } {
    const w = this.workers.get(name);
    if (!w) throw new OpsError('OPS_ERR_RECEIVER_UNKNOWN', `no receiver "${name}" (configured: ${[...this.workers.keys()].join(', ') || 'none'})`);
    const now = this.now();
    const views = list.map((a) => {
      const inc = alertFromApi(a, now);
      return toAlertView({ fingerprint: fingerprint(inc.labels), labels: inc.labels, annotations: inc.annotations, state: inc.state, startsAtMs: inc.startsAtMs || now, endsAtMs: inc.endsAtMs, updatedMs: now, expiresMs: null, source: 'api', count: 1 });
    });
    const first = views[0]?.labels ?? {};
    const route = this.router.match(first)[0];
    const { key, labels } = route ? groupOf(route, first) : { key: 'preview', labels: { alertname: first.alertname ?? 'Preview' } };
    const firing = views.filter((v) => v.status === 'firing');
    const resolved = views.filter((v) => v.status === 'resolved');
    const mentions = route && firing.length ? mentionsFor(route, firing.map((a) => a.labels.severity ?? '')) : undefined;
    const msg = { kind: 'notify' as const, merged: 1, groups: [{ groupKey: key, groupLabels: labels, status: firing.length ? ('firing' as const) : ('resolved' as const), firing, resolved }], ...(mentions ? { mentions } : {}) };
    return { receiver: name, type: w.type, body: w.preview(msg) };
  }

  /** Which routes and receivers an alert with these labels reaches (amtool's `config routes test`). */
  routesTest(labels: Record<string, string>): { receivers: string[]; routes: Array<{ id: string; receivers: string[]; groupBy: string[]; groupKey: string; mutedNow: boolean; continue: boolean }> } {
    const routes = this.router.match(labels).map((r) => ({ id: r.id, receivers: r.receivers, groupBy: r.groupBy, groupKey: groupOf(r, labels).key, mutedNow: this.router.muted(r, this.now()), continue: r.continue }));
    return { receivers: [...new Set(routes.flatMap((r) => r.receivers))], routes };
  }

  statsView(): Record<string, unknown> {
    return {
      ...this.stats,
      alerts: this.alerts.counts(),
      groups: this.dispatcher.groupCount,
      silencesSkipped: this.silences.skipped,
      intake: this.intakeStats,
      dispatch: this.dispatcher.stats,
      receivers: Object.fromEntries([...this.workers].map(([n, w]) => [n, { ...w.stats, pending: w.pending, pausedMs: w.pausedMs }])),
    };
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      this.dispatcher.stop();
      await Promise.all([...this.workers.values()].map((w) => w.stop()));
      this.log.info(this.stats, 'alerting stopped');
    })();
    return this.stopping;
  }
}
