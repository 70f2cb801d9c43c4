import type { Logger } from '../../shared/logger.js';
import type { PendingNotification } from '../notify/worker.js';
import { toAlertView, type AlertRecord } from './model.js';
import type { NotifyStore } from '../notify/notify-store.js';
import { nextDue, type GroupStore } from './group-store.js';
import { groupOf, mentionsFor, type CompiledRoute, type Router } from './router.js';

/** An aggregation group: the alerts of one route with the same group_by values. */
interface AggrGroup {
  key: string;
  route: CompiledRoute;
  labels: Record<string, string>;
  alerts: Map<string, AlertRecord>;
  timer: NodeJS.Timeout | undefined;
  createdMs: number;
  flushes: number;
  /** When the timer fires next (for stats and tests). */
  dueMs: number;
  /** A flush came while this controller was a standby: flush at once on promotion. */
  held: boolean;
}

/** A read-only look at one aggregation group (see Dispatcher.snapshot). */
export interface GroupSnapshot {
  key: string;
  route: CompiledRoute;
  labels: Record<string, string>;
  alerts: AlertRecord[];
  /** When its timer fires next; undefined while a flush is running or after stop. */
  dueMs: number | undefined;
  flushes: number;
}

export interface DispatcherDeps {
  router: Router;
  store: NotifyStore;
  logger: Logger;
  /** Whether an alert's notifications are held back right now (silence or inhibition). */
  muted: (a: AlertRecord) => boolean;
  /** Receivers that want resolved notifications. */
  sendResolved: (receiver: string) => boolean;
  enqueue: (receiver: string, n: PendingNotification) => void;
  /** Persists when groups are due, so a restart keeps their timers (absent: in memory only). */
  groups?: GroupStore;
  /**
   * `alerting.storm_groups`: when a group's first flush finds at least this many groups of the
   * same route (itself included) still waiting out group_wait, they all flush now and each
   * receiver gets them as ONE message. 0 or absent: every group is its own message.
   */
  stormGroups?: number;
  now?: () => number;
  /**
   * HA: whether this controller may notify now (the leader). Absent: always. A standby keeps
   * its groups (alert state comes from the stream on both controllers) but its flushes decide
   * nothing; `resume()` on promotion flushes them, and what the old leader told (its records,
   * replicated into the notify store) is not told again.
   */
  mayNotify?: () => boolean;
}

/**
 * Groups alerts and decides when each receiver is told, as Alertmanager does: a new group waits
 * group_wait, then flushes at most every group_interval; a receiver is notified when the group
 * has firing alerts it was not told about, when alerts it was told about resolved, or when
 * repeat_interval passed with alerts still firing. What each receiver was told is kept in
 * SQLite (NotifyStore), so a restart does not repeat notifications.
 */
export class Dispatcher {
  private readonly groups = new Map<string, AggrGroup>();
  private readonly log: Logger;
  private readonly now: () => number;
  private stopped = false;
  readonly stats = { groupsCreated: 0, groupsRestored: 0, flushes: 0, notificationsQueued: 0, unrouted: 0, mutedByTime: 0, storms: 0, heldAsStandby: 0 };

  constructor(private readonly d: DispatcherDeps) {
    this.log = d.logger.child({ component: 'alerts.dispatch' });
    this.now = d.now ?? Date.now;
  }

  /** Keys of the groups in memory. */
  keys(): Set<string> {
    return new Set(this.groups.keys());
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /** Puts the alert (new state) into the groups of every route it matches. */
  insert(a: AlertRecord): void {
    if (this.stopped) return;
    const routes = this.d.router.match(a.labels);
    if (routes.length === 0) this.stats.unrouted++;
    for (const route of routes) {
      const { key, labels } = groupOf(route, a.labels);
      let g = this.groups.get(key);
      if (!g) {
        // A resolved alert with no group left has nothing to tell unless someone was told it fired.
        if (a.state === 'resolved' && !route.receivers.some((r) => this.d.store.get(key, r)?.firing.has(a.fingerprint))) continue;
        const now = this.now();
        g = { key, route, labels, alerts: new Map(), timer: undefined, createdMs: now, flushes: 0, dueMs: 0, held: false };
        this.groups.set(key, g);
        this.stats.groupsCreated++;
        // A group that existed before a restart keeps its timing; a new one waits group_wait.
        const first = this.d.groups?.firstFlush(key);
        if (first !== undefined) {
          this.stats.groupsRestored++;
          this.schedule(g, nextDue(first, route.groupIntervalMs, now) - now);
        } else {
          this.d.groups?.put(key, now + route.groupWaitMs, now);
          this.schedule(g, route.groupWaitMs);
        }
      }
      g.alerts.set(a.fingerprint, a);
    }
  }

  /** The groups as they are now, for the API's group listing (copies: callers may not mutate groups). */
  snapshot(): GroupSnapshot[] {
    return [...this.groups.values()].map((g) => ({ key: g.key, route: g.route, labels: { ...g.labels }, alerts: [...g.alerts.values()], dueMs: g.timer ? g.dueMs : undefined, flushes: g.flushes }));
  }

  /** When a group fires next (ms since epoch), or undefined when there is no such group. */
  dueAt(key: string): number | undefined {
    return this.groups.get(key)?.dueMs;
  }

  private schedule(g: AggrGroup, ms: number): void {
    if (g.timer) clearTimeout(g.timer);
    g.dueMs = this.now() + ms;
    g.timer = setTimeout(() => {
      g.timer = undefined;
      try {
        this.fire(g);
      } catch (err) {
        this.log.error({ err, group: g.key }, 'group flush failed');
        if (!this.stopped && this.groups.get(g.key) === g) this.schedule(g, g.route.groupIntervalMs);
      }
    }, ms);
  }

  /**
   * A group's timer fired. On its first flush, a storm (many groups of one route born within
   * one group_wait: 1,000 hosts offline at once under group_by [alertname, host]) is flushed
   * together and tagged so the receiver worker sends it as one digest, not 1,000 messages; the
   * groups stay separate (their own group_interval, resolutions and repeats).
   */
  private fire(g: AggrGroup): void {
    if (this.d.mayNotify && !this.d.mayNotify()) {
      // Standby: nothing is decided or recorded; the group waits for promotion (or its next interval).
      this.stats.heldAsStandby++;
      g.held = true;
      this.schedule(g, g.route.groupIntervalMs);
      return;
    }
    g.held = false;
    const min = this.d.stormGroups ?? 0;
    if (min > 1 && g.flushes === 0) {
      const siblings = [...this.groups.values()].filter((o) => o !== g && o.route === g.route && o.flushes === 0 && o.timer !== undefined);
      if (siblings.length + 1 >= min) {
        const storm = `${g.key}@${this.now()}`;
        this.stats.storms++;
        this.log.info({ route: g.key, groups: siblings.length + 1 }, 'alert storm: groups of one route flushed together as one message');
        this.flush(g, storm);
        for (const o of siblings) {
          clearTimeout(o.timer);
          o.timer = undefined;
          try {
            this.flush(o, storm);
          } catch (err) {
            this.log.error({ err, group: o.key }, 'group flush failed');
            if (!this.stopped && this.groups.get(o.key) === o) this.schedule(o, o.route.groupIntervalMs);
          }
        }
        return;
      }
    }
    this.flush(g);
  }

  /** Decides, per receiver, whether this group needs a notification now. */
  flush(g: AggrGroup, storm?: string): void {
    if (this.stopped) return;
    const now = this.now();
    this.stats.flushes++;
    g.flushes++;
    if (this.d.router.muted(g.route, now)) {
      // A mute (or outside every active) time interval: nothing is sent and nothing recorded as
      // told, so the first flush after the interval sends what is firing then.
      this.stats.mutedByTime++;
      this.schedule(g, g.route.groupIntervalMs);
      return;
    }
    const firing: AlertRecord[] = [];
    const resolved: AlertRecord[] = [];
    for (const a of g.alerts.values()) {
      if (a.state === 'firing') {
        if (!this.d.muted(a)) firing.push(a);
      } else resolved.push(a);
    }
    const firingFps = firing.map((a) => a.fingerprint).sort();
    for (const receiver of g.route.receivers) {
      const entry = this.d.store.get(g.key, receiver);
      // Only alerts this receiver was told were firing get a resolved notice.
      const res = entry ? resolved.filter((a) => entry.firing.has(a.fingerprint)) : [];
      const resFps = res.map((a) => a.fingerprint).sort();
      let needs: boolean;
      if (!entry) needs = firing.length > 0;
      else if (firing.some((a) => !entry.firing.has(a.fingerprint))) needs = true;
      else if (entry.firing.size > 0 && firing.length === 0) needs = true;
      else if (resFps.some((fp) => !entry.resolved.has(fp))) needs = true;
      else needs = firing.length > 0 && now - entry.tsMs >= g.route.repeatIntervalMs;
      if (!needs) continue;
      const sendRes = this.d.sendResolved(receiver) ? res : [];
      if (firing.length === 0 && sendRes.length === 0) {
        // Nothing to say (muted since, or the receiver does not want resolved notices): record it.
        this.d.store.put(g.key, receiver, [], resFps, now);
        continue;
      }
      this.stats.notificationsQueued++;
      this.d.enqueue(receiver, {
        receiver,
        group: {
          groupKey: g.key,
          groupLabels: g.labels,
          status: firing.length > 0 ? 'firing' : 'resolved',
          firing: firing.map(toAlertView),
          resolved: sendRes.map(toAlertView),
        },
        firingFps,
        resolvedFps: resFps,
        mentions: firing.length > 0 ? mentionsFor(g.route, firing.map((a) => a.labels.severity ?? '')) : undefined,
        ...(storm ? { storm } : {}),
      });
    }
    this.cleanup(g);
    if (g.alerts.size === 0) {
      this.groups.delete(g.key);
      this.d.groups?.delete(g.key);
      return;
    }
    this.schedule(g, g.route.groupIntervalMs);
  }

  /** Drops resolved alerts no receiver still has to hear about (told, or never told it fired). */
  private cleanup(g: AggrGroup): void {
    for (const [fp, a] of g.alerts) {
      if (a.state !== 'resolved') continue;
      const pending = g.route.receivers.some((r) => this.d.store.get(g.key, r)?.firing.has(fp));
      if (!pending) g.alerts.delete(fp);
    }
  }

  /** HA promotion: groups whose flush came while this controller was a standby flush now. */
  resume(): void {
    if (this.stopped) return;
    for (const g of this.groups.values()) if (g.held) this.schedule(g, 0);
  }

  /** Records a delivered notification (called by the receiver worker after the channel accepted it). */
  delivered(n: PendingNotification): void {
    this.d.store.put(n.group.groupKey, n.receiver, n.firingFps, n.resolvedFps, this.now());
  }

  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) if (g.timer) clearTimeout(g.timer);
    this.groups.clear();
  }
}
