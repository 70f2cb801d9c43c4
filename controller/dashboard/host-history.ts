import type Database from 'better-sqlite3';
import { storedBodyField, storedEventBody } from '../store/event-body.js';

/** One change of a check as the host page lists it. */
export interface CheckHistoryEntry {
  ts: string;
  check: string;
  event: string;
  state: string;
  from?: string;
  status?: string;
  detail?: string;
  phase?: string;
}

/** Per-minute log level counts of a host, summed over its sources: one array per level. */
export interface LogLevelSeries {
  host: string;
  range: string;
  ts: number[];
  levels: Record<'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'none', number[]>;
}

export interface TimelineEvent {
  ts: string;
  kind: string;
  summary: string;
  payload: unknown;
}

/** Check events worth a line in the history: results that did not change anything are not. */
const HISTORY_EVENTS = ['transition', 'restart', 'supervise', 'gave_up'];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'none'] as const;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Read models of the host page over what the controller already stores: check transitions
 * and restarts come from the host's `check` events (the (host, kind, ts) index), level counts
 * from log_stats, the timeline from the events table without the high-volume kinds.
 */
export class HostHistory {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      checks: db.prepare<[string, number, string, number], { ts_ms: number; payload: string }>(
        `SELECT ts_ms, payload FROM events WHERE host_id = ? AND kind = 'check' AND ts_ms >= ?
           AND ${storedBodyField('event')} IN (SELECT value FROM json_each(?)) ORDER BY ts_ms DESC LIMIT ?`,
      ),
      levels: db.prepare<[string, number], Record<string, number>>(
        `SELECT minute_ms, ${LEVELS.map((l) => `sum(${l}) AS ${l}`).join(', ')} FROM log_stats WHERE host_id = ? AND minute_ms >= ? GROUP BY minute_ms ORDER BY minute_ms`,
      ),
      timeline: db.prepare<[string, number], { ts_ms: number; kind: string; payload: string }>(
        `SELECT ts_ms, kind, payload FROM events
         WHERE host_id = ? AND kind IN ('check', 'alert', 'backup', 'action', 'facts') ORDER BY ts_ms DESC LIMIT ?`,
      ),
    };
  }

  checkHistory(host: string, q: { sinceMs: number; check?: string | undefined; limit: number }): CheckHistoryEntry[] {
    const out: CheckHistoryEntry[] = [];
    // The previous state of each transition is the state of the next older one: read one page
    // further than asked when filtering by check, then walk oldest → newest.
    const rows = this.stmts.checks.all(host, q.sinceMs, JSON.stringify(HISTORY_EVENTS), q.limit * 4 + 1);
    const entries: CheckHistoryEntry[] = [];
    for (const r of rows) {
      const b = storedEventBody(r.payload);
      if (!b) continue;
      const check = str(b.check) ?? '';
      if (q.check && check !== q.check) continue;
      const e: CheckHistoryEntry = { ts: new Date(r.ts_ms).toISOString(), check, event: str(b.event) ?? '', state: str(b.state) ?? '' };
      for (const k of ['status', 'detail', 'phase'] as const) {
        const v = str(b[k]);
        if (v) e[k] = v;
      }
      entries.push(e);
    }
    const lastState = new Map<string, string>();
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      if (e.event === 'transition') {
        const prev = lastState.get(e.check);
        if (prev !== undefined) e.from = prev;
        lastState.set(e.check, e.state);
      }
    }
    for (const e of entries) {
      if (out.length >= q.limit) break;
      out.push(e);
    }
    return out;
  }

  logLevels(host: string, range: string, sinceMs: number): LogLevelSeries {
    const out: LogLevelSeries = { host, range, ts: [], levels: { trace: [], debug: [], info: [], warn: [], error: [], fatal: [], none: [] } };
    for (const r of this.stmts.levels.all(host, Math.floor(sinceMs / 60_000) * 60_000)) {
      out.ts.push(Number(r.minute_ms));
      for (const l of LEVELS) out.levels[l].push(Number(r[l] ?? 0));
    }
    return out;
  }

  timeline(host: string, limit: number): TimelineEvent[] {
    return this.stmts.timeline.all(host, limit).map((r) => {
      // JSON-bodied kinds show their body; alert events (no json field) their stored object.
      const payload: unknown = storedEventBody(r.payload) ?? r.payload;
      return { ts: new Date(r.ts_ms).toISOString(), kind: r.kind, summary: summarize(r.kind, payload), payload };
    });
  }
}

/** One line a person reads in the host's timeline. */
export function summarize(kind: string, p: unknown): string {
  const b = (p !== null && typeof p === 'object' ? p : {}) as Record<string, unknown>;
  switch (kind) {
    case 'check':
      return [str(b.check), str(b.event), str(b.state), str(b.phase), str(b.detail)].filter(Boolean).join(' ');
    case 'alert': {
      const a = (b.alert ?? b) as Record<string, unknown>;
      const labels = (a.labels ?? {}) as Record<string, string>;
      return `${labels.alertname ?? 'alert'} ${a.state === 1 || a.state === 'STATE_FIRING' ? 'firing' : a.state === 2 || a.state === 'STATE_RESOLVED' ? 'resolved' : String(a.state ?? '')}`.trim();
    }
    case 'backup':
      return [str(b.set), str(b.event) ?? str(b.type), str(b.status), str(b.error)].filter(Boolean).join(' ');
    case 'facts': {
      const f = (b.facts ?? {}) as Record<string, unknown>;
      return `facts gathered: ${[f.distro, f.distro_version, f.virtual].filter((v) => v !== undefined && v !== '').join(' ')}`;
    }
    default:
      return Object.entries(b)
        .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
        .slice(0, 4)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
  }
}
