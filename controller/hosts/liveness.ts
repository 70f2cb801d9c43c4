import type Database from 'better-sqlite3';
import type { Logger } from '../../shared/logger.js';
import type { HostStatusChange } from '../ingest/ingest.js';
import type { EventsStore } from '../store/events-store.js';
import type { HostsStore } from '../store/hosts-store.js';

export interface LivenessDeps {
  db: Database.Database;
  hosts: HostsStore;
  events: EventsStore;
  /** Fixed threshold; undefined = 3 x each host's own heartbeat interval. */
  offlineAfterMs: number | undefined;
  logger: Logger;
  now?: () => number;
  checkEveryMs?: number;
  onHostStatus?: (c: HostStatusChange) => void;
  /**
   * Up to when the event stream has been read (Ingest.readThrough): silence is measured up to
   * that instant, so hosts whose heartbeats wait in an ingest backlog are not marked offline.
   * Absent: ingest is taken as caught up.
   */
  readThrough?: (now: number) => number;
}

/** Fallback when a host never told its interval. */
const DEFAULT_OFFLINE_MS = 30_000;

/**
 * Marks hosts offline when no event arrived within their threshold. Silence is measured on the
 * controller's clock (received time), never the agent's, so clock skew cannot fake liveness.
 * After a controller start the check waits one threshold before judging, giving agents time to
 * deliver what queued while the controller was down.
 */
export class Liveness {
  readonly name = 'liveness';
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly log: Logger;
  private behindLogged = false;

  constructor(private readonly d: LivenessDeps) {
    this.now = d.now ?? Date.now;
    this.startedAt = this.now();
    this.log = d.logger.child({ component: 'liveness' });
  }

  thresholdFor(hbIntervalMs: number): number {
    return this.d.offlineAfterMs ?? (hbIntervalMs > 0 ? hbIntervalMs * 3 : DEFAULT_OFFLINE_MS);
  }

  async start(): Promise<void> {
    const every = this.d.checkEveryMs ?? Math.max(100, Math.min(1000, (this.d.offlineAfterMs ?? 3000) / 10));
    this.timer = setInterval(() => {
      try {
        this.check();
      } catch (err) {
        this.log.error({ err }, 'liveness check failed');
      }
    }, every);
  }

  /** One pass; returns the changes it made. */
  check(): HostStatusChange[] {
    const now = this.now();
    const read = this.d.readThrough?.(now) ?? now;
    if (read < now - 1000 && !this.behindLogged) this.log.info({ behindMs: now - read }, 'ingest is behind the stream; silence is judged up to what it has read');
    this.behindLogged = read < now - 1000;
    const changes: HostStatusChange[] = [];
    this.d.db.transaction(() => {
      // Only the hosts past their deadline (an index range), not every online row each second.
      for (const h of this.d.hosts.offlineCandidates(read, this.d.offlineAfterMs)) {
        const threshold = this.thresholdFor(h.hb_interval_ms);
        if (now - this.startedAt < threshold) continue;
        // A host is silent only when nothing of it is in what ingest has read (a backlog is not silence).
        if (read - h.last_seen_ms > threshold) {
          this.d.hosts.setStatus(h.id, 'offline', now);
          const reason = `no heartbeat for ${Math.round((now - h.last_seen_ms) / 1000)}s (threshold ${threshold / 1000}s)`;
          this.d.events.insertControllerEvent(h.id, 'host_status', now, { from: 'online', to: 'offline', reason });
          changes.push({ hostId: h.id, from: 'online', to: 'offline', atMs: now, reason });
        }
      }
    })();
    for (const c of changes) {
      this.log.warn({ hostId: c.hostId, reason: c.reason }, 'host offline');
      this.d.onHostStatus?.(c);
    }
    return changes;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
