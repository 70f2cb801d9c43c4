import type Database from 'better-sqlite3';
import type { Event } from '../../shared/gen/opsfleet/v1/events.js';
import type { Logger } from '../../shared/logger.js';
import { samplePoint } from './sample-point.js';

/** Width of one downsampled metric history bucket. */
export const HISTORY_BUCKET_MS = 60_000;
/** Width of the coarse tier's bucket (charts over 7 and 30 days). */
export const HISTORY_10M_BUCKET_MS = 600_000;

/**
 * How long each metric tier is kept. Raw samples live in `events` (retention.samples); the
 * 1-minute tier serves the last day and the 10-minute tier a month, so a host costs at most
 * ~1,500 + ~4,320 rows however long the controller runs.
 */
export interface HistoryTiers {
  minuteMs: number;
  tenMinuteMs: number;
}
export const DEFAULT_HISTORY_TIERS: HistoryTiers = { minuteMs: 25 * 3_600_000, tenMinuteMs: 30 * 86_400_000 };

export interface CheckRow {
  host_id: string;
  name: string;
  type: string;
  state: string;
  status: string;
  detail: string;
  latency_ms: number;
  state_since_ms: number;
  last_ts_ms: number;
  last_event: string;
  restarts: number;
  last_restart_ms: number;
  gave_up: number;
}

/** A check as the API shows it. */
export interface CheckView {
  host: string;
  name: string;
  type: string;
  state: string;
  status: string;
  detail: string;
  latencyMs: number;
  since: string;
  lastSeen: string;
  lastEvent: string;
  restarts: number;
  lastRestart: string | null;
  gaveUp: boolean;
}

export function toCheckView(r: CheckRow): CheckView {
  return {
    host: r.host_id,
    name: r.name,
    type: r.type,
    state: r.state,
    status: r.status,
    detail: r.detail,
    latencyMs: r.latency_ms,
    since: new Date(r.state_since_ms).toISOString(),
    lastSeen: new Date(r.last_ts_ms).toISOString(),
    lastEvent: r.last_event,
    restarts: r.restarts,
    lastRestart: r.last_restart_ms ? new Date(r.last_restart_ms).toISOString() : null,
    gaveUp: r.gave_up === 1,
  };
}

export interface HistoryRow {
  bucket_ms: number;
  n: number;
  cpu_avg: number;
  cpu_max: number;
  mem_avg: number;
  mem_max: number;
  load1_avg: number;
  disk_max: number;
  rx_bps_avg: number;
  tx_bps_avg: number;
}

interface CheckBody {
  check?: unknown;
  type?: unknown;
  event?: unknown;
  state?: unknown;
  status?: unknown;
  detail?: unknown;
  latency_ms?: unknown;
  phase?: unknown;
}

/**
 * Adds one sample to its bucket of a history tier (same columns in both tiers): a running
 * average (n samples so far) and a maximum, so a bucket is exact whatever order samples arrive in.
 */
const bucketUpsert = (table: 'metric_history' | 'metric_history_10m') =>
  `INSERT INTO ${table} (host_id, bucket_ms, n, cpu_avg, cpu_max, mem_avg, mem_max, load1_avg, disk_max, rx_bps_avg, tx_bps_avg)
   VALUES (@host, @bucket, 1, @cpu, @cpu, @mem, @mem, @load1, @disk, @rxBps, @txBps)
   ON CONFLICT (host_id, bucket_ms) DO UPDATE SET
     cpu_avg = (cpu_avg * n + excluded.cpu_avg) / (n + 1), cpu_max = max(cpu_max, excluded.cpu_max),
     mem_avg = (mem_avg * n + excluded.mem_avg) / (n + 1), mem_max = max(mem_max, excluded.mem_max),
     load1_avg = (load1_avg * n + excluded.load1_avg) / (n + 1), disk_max = max(disk_max, excluded.disk_max),
     rx_bps_avg = (rx_bps_avg * n + excluded.rx_bps_avg) / (n + 1), tx_bps_avg = (tx_bps_avg * n + excluded.tx_bps_avg) / (n + 1),
     n = n + 1`;

const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);

/**
 * Latest check and metric state, kept from the `check` and `metric` events ingest stores. It
 * hears events after their transaction committed (ingest's onEvents) and applies a whole
 * delivery in one transaction of its own; redelivered or late events never move state back
 * (a row only advances to a newer agent timestamp).
 */
export class ChecksStore {
  private readonly stmts;
  private readonly log: Logger;
  private pruneTimer: NodeJS.Timeout | undefined;
  readonly stats = { checkEvents: 0, metricEvents: 0, malformed: 0 };

  constructor(
    private readonly db: Database.Database,
    logger: Logger,
    private readonly tiers: HistoryTiers = DEFAULT_HISTORY_TIERS,
  ) {
    this.log = logger.child({ component: 'checks' });
    this.stmts = {
      get: db.prepare<[string, string], CheckRow>('SELECT * FROM check_state WHERE host_id = ? AND name = ?'),
      upsert: db.prepare(
        `INSERT INTO check_state (host_id, name, type, state, status, detail, latency_ms, state_since_ms, last_ts_ms, last_event, restarts, last_restart_ms, gave_up)
         VALUES (@host_id, @name, @type, @state, @status, @detail, @latency_ms, @state_since_ms, @last_ts_ms, @last_event, @restarts, @last_restart_ms, @gave_up)
         ON CONFLICT (host_id, name) DO UPDATE SET type = excluded.type, state = excluded.state, status = excluded.status, detail = excluded.detail,
           latency_ms = excluded.latency_ms, state_since_ms = excluded.state_since_ms, last_ts_ms = excluded.last_ts_ms, last_event = excluded.last_event,
           restarts = excluded.restarts, last_restart_ms = excluded.last_restart_ms, gave_up = excluded.gave_up`,
      ),
      latest: db.prepare('INSERT INTO metric_latest (host_id, ts_ms, sample) VALUES (?, ?, ?) ON CONFLICT (host_id) DO UPDATE SET ts_ms = excluded.ts_ms, sample = excluded.sample WHERE excluded.ts_ms >= metric_latest.ts_ms'),
      getLatest: db.prepare<[string], { ts_ms: number; sample: string }>('SELECT ts_ms, sample FROM metric_latest WHERE host_id = ?'),
      history: db.prepare(bucketUpsert('metric_history')),
      history10m: db.prepare(bucketUpsert('metric_history_10m')),
      getHistory: db.prepare<[string, number, number], HistoryRow>('SELECT bucket_ms, n, cpu_avg, cpu_max, mem_avg, mem_max, load1_avg, disk_max, rx_bps_avg, tx_bps_avg FROM metric_history WHERE host_id = ? AND bucket_ms >= ? ORDER BY bucket_ms LIMIT ?'),
      pruneHistory: db.prepare('DELETE FROM metric_history WHERE bucket_ms < ?'),
      pruneHistory10m: db.prepare('DELETE FROM metric_history_10m WHERE bucket_ms < ?'),
      forget: db.prepare("DELETE FROM check_state WHERE host_id = ? AND last_ts_ms <= ? AND name NOT IN (SELECT value FROM json_each(?))"),
    };
  }

  /** Ingest's onEvents listener: keeps the check/metric tables current. Never throws. */
  onEvents = (events: readonly Event[]): void => {
    const relevant = events.filter((e) => (e.kind === 'check' || e.kind === 'metric') && e.json);
    if (relevant.length === 0) return;
    try {
      this.db.transaction(() => {
        for (const e of relevant) this.apply(e);
      })();
    } catch (err) {
      this.log.error({ err, events: relevant.length }, 'check/metric state update failed');
    }
  };

  private apply(e: Event): void {
    let body: unknown;
    try {
      body = JSON.parse(e.json!);
    } catch {
      this.stats.malformed++;
      return;
    }
    if (body === null || typeof body !== 'object') {
      this.stats.malformed++;
      return;
    }
    if (e.kind === 'metric') this.applyMetric(e, body);
    else this.applyCheck(e, body as CheckBody);
  }

  private applyCheck(e: Event, b: CheckBody & { checks?: unknown }): void {
    if (b.event === 'config') {
      // The agent started with this set of checks: rows of checks no longer configured go.
      if (!Array.isArray(b.checks) || !b.checks.every((n) => typeof n === 'string')) {
        this.stats.malformed++;
        return;
      }
      this.stmts.forget.run(e.hostId, e.tsMs, JSON.stringify(b.checks));
      return;
    }
    const name = str(b.check);
    const state = str(b.state);
    if (!name || !state) {
      this.stats.malformed++;
      return;
    }
    this.stats.checkEvents++;
    const cur = this.stmts.get.get(e.hostId, name);
    if (cur && e.tsMs < cur.last_ts_ms) return;
    const event = str(b.event);
    const row: CheckRow = cur ?? {
      host_id: e.hostId, name, type: '', state, status: '', detail: '', latency_ms: 0, state_since_ms: e.tsMs, last_ts_ms: e.tsMs, last_event: '', restarts: 0, last_restart_ms: 0, gave_up: 0,
    };
    if (row.state !== state || event === 'transition') {
      if (row.state !== state) row.state_since_ms = e.tsMs;
      row.state = state;
    }
    row.type = str(b.type, row.type);
    if (event === 'result' || event === 'transition') {
      row.status = str(b.status, row.status);
      row.detail = str(b.detail, row.detail);
      row.latency_ms = num(b.latency_ms, row.latency_ms);
    }
    if (event === 'restart' && b.phase === 'attempt') {
      row.restarts++;
      row.last_restart_ms = e.tsMs;
      row.gave_up = 0;
    }
    if (event === 'supervise' && b.phase === 'started') {
      row.restarts++;
      row.last_restart_ms = e.tsMs;
    }
    if (event === 'gave_up') row.gave_up = 1;
    if (event === 'transition' && state === 'up') row.gave_up = 0;
    row.last_ts_ms = e.tsMs;
    row.last_event = event === 'restart' || event === 'supervise' ? `${event}:${str(b.phase)}` : event;
    this.stmts.upsert.run(row);
  }

  private applyMetric(e: Event, sample: unknown): void {
    this.stats.metricEvents++;
    this.stmts.latest.run(e.hostId, e.tsMs, e.json);
    const point = { host: e.hostId, bucket: Math.floor(e.tsMs / HISTORY_BUCKET_MS) * HISTORY_BUCKET_MS, ...samplePoint(sample) };
    this.stmts.history.run(point);
    // Both tiers are fed from the sample itself (not rolled up later): the 10-minute averages
    // stay exact, and no rollup job can fall behind or be lost at a restart.
    this.stmts.history10m.run({ ...point, bucket: Math.floor(e.tsMs / HISTORY_10M_BUCKET_MS) * HISTORY_10M_BUCKET_MS });
  }

  list(q: { host?: string | undefined; state?: string | undefined } = {}): CheckRow[] {
    const where: string[] = [];
    const args: string[] = [];
    if (q.host) {
      where.push('host_id = ?');
      args.push(q.host);
    }
    if (q.state) {
      where.push('state = ?');
      args.push(q.state);
    }
    return this.db.prepare<string[], CheckRow>(`SELECT * FROM check_state ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY host_id, name`).all(...args);
  }

  latestSample(host: string): { tsMs: number; sample: unknown } | undefined {
    const r = this.stmts.getLatest.get(host);
    return r ? { tsMs: r.ts_ms, sample: JSON.parse(r.sample) as unknown } : undefined;
  }

  history(host: string, sinceMs: number, limit = 10_000): HistoryRow[] {
    return this.stmts.getHistory.all(host, sinceMs, limit);
  }

  /** Deletes each tier's buckets older than the tier keeps; the number of rows deleted. */
  pruneHistory(nowMs: number): number {
    return this.stmts.pruneHistory.run(nowMs - this.tiers.minuteMs).changes + this.stmts.pruneHistory10m.run(nowMs - this.tiers.tenMinuteMs).changes;
  }

  /** Prunes downsampled history past its retention once an hour. */
  start(): void {
    const prune = () => {
      try {
        const n = this.pruneHistory(Date.now());
        if (n) this.log.info({ rows: n }, 'metric history pruned');
      } catch (err) {
        this.log.error({ err }, 'metric history prune failed');
      }
    };
    prune();
    this.pruneTimer = setInterval(prune, 3_600_000);
    this.pruneTimer.unref();
  }

  stop(): void {
    clearInterval(this.pruneTimer);
  }
}
