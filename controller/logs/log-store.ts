import type Database from 'better-sqlite3';
import { LEVELS } from '../../shared/logs/levels.js';

// Tables: log_stats, log_lines, log_cursor (controller/store/migrations.ts).
export interface StatsBody {
  type: 'stats';
  source: string;
  flush: number;
  minute_ms: number;
  levels: Record<string, number>;
  lines: number;
  unparsed: number;
  truncated: number;
}

export interface LineBody {
  type: 'line';
  source: string;
  file: string;
  path: string;
  offset: number;
  level: string | null;
  message: string;
  fields: Record<string, string>;
}

/** What the agent ships: consecutive lines of one file, each with its byte offset. */
export interface LinesBody {
  type: 'lines';
  source: string;
  file: string;
  path: string;
  lines: Array<{ offset: number; ts_ms?: number; level?: string | null; message?: string; fields?: Record<string, string> }>;
}

export interface StatsRow {
  host: string;
  source: string;
  minute?: string;
  levels: Record<string, number>;
  lines: number;
  unparsed: number;
  truncated: number;
}

const COLS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'none'] as const;

/**
 * Log statistics and shipped lines. Both are idempotent: a stats flush is keyed by (host,
 * agent instance, source, flush number, minute) and a line by (host, source, file key, byte
 * offset), so an event the agent sent twice (after a kill -9 between its outbox append and its
 * checkpoint) is stored once.
 */
export class LogStore {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      stats: db.prepare(`INSERT OR IGNORE INTO log_stats (host_id, instance_id, source, flush, minute_ms, ${COLS.join(', ')}, lines, unparsed, truncated) VALUES (?, ?, ?, ?, ?, ${COLS.map(() => '?').join(', ')}, ?, ?, ?)`),
      line: db.prepare('INSERT OR IGNORE INTO log_lines (host_id, source, file, offset, path, ts_ms, received_ms, level, message, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    };
  }

  insertStats(host: string, instance: string, b: StatsBody): boolean {
    const lv = (k: string) => Number(b.levels[k] ?? 0);
    return this.s.stats.run(host, instance, b.source, b.flush, b.minute_ms, ...LEVELS.map(lv), lv('NONE'), b.lines, b.unparsed, b.truncated).changes > 0;
  }

  insertLine(host: string, tsMs: number, receivedMs: number, b: LineBody): boolean {
    return this.s.line.run(host, b.source, b.file, b.offset, b.path, tsMs, receivedMs, b.level, b.message, JSON.stringify(b.fields ?? {})).changes > 0;
  }

  /** Level counts since `sinceMs`, summed per host and source (or per minute too). */
  stats(q: { sinceMs: number; host?: string; source?: string; byMinute?: boolean }): StatsRow[] {
    const where = ['minute_ms >= ?'];
    const args: Array<string | number> = [Math.floor(q.sinceMs / 60_000) * 60_000];
    if (q.host) {
      where.push('host_id = ?');
      args.push(q.host);
    }
    if (q.source) {
      where.push('source = ?');
      args.push(q.source);
    }
    const group = q.byMinute ? 'host_id, source, minute_ms' : 'host_id, source';
    const rows = this.db
      .prepare(`SELECT host_id, source, ${q.byMinute ? 'minute_ms,' : ''} ${COLS.map((c) => `sum(${c}) AS ${c}`).join(', ')}, sum(lines) AS lines, sum(unparsed) AS unparsed, sum(truncated) AS truncated FROM log_stats WHERE ${where.join(' AND ')} GROUP BY ${group} ORDER BY ${group}`)
      .all(...args) as Array<Record<string, number | string>>;
    return rows.map((r) => ({
      host: String(r.host_id),
      source: String(r.source),
      ...(q.byMinute ? { minute: new Date(Number(r.minute_ms)).toISOString() } : {}),
      levels: Object.fromEntries(COLS.map((c) => [c.toUpperCase(), Number(r[c] ?? 0)])),
      lines: Number(r.lines),
      unparsed: Number(r.unparsed),
      truncated: Number(r.truncated),
    }));
  }

  /** Shipped lines, newest first. */
  lines(q: { host?: string; source?: string; level?: string; sinceMs?: number; limit: number }): Array<Record<string, unknown>> {
    const where = ['1 = 1'];
    const args: Array<string | number> = [];
    for (const [col, v] of [['host_id', q.host], ['source', q.source], ['level', q.level]] as const) {
      if (v) {
        where.push(`${col} = ?`);
        args.push(v);
      }
    }
    if (q.sinceMs !== undefined) {
      where.push('ts_ms >= ?');
      args.push(q.sinceMs);
    }
    args.push(q.limit);
    const rows = this.db.prepare(`SELECT host_id, source, path, file, offset, ts_ms, level, message, fields FROM log_lines WHERE ${where.join(' AND ')} ORDER BY ts_ms DESC, offset DESC LIMIT ?`).all(...args) as Array<Record<string, string | number | null>>;
    return rows.map((r) => ({ host: r.host_id, source: r.source, path: r.path, file: r.file, offset: r.offset, ts: new Date(Number(r.ts_ms)).toISOString(), level: r.level, message: r.message, fields: JSON.parse(String(r.fields)) as unknown }));
  }

  /** Removes statistics and lines older than `beforeMs`. */
  prune(beforeMs: number): number {
    const a = this.db.prepare('DELETE FROM log_stats WHERE minute_ms < ?').run(beforeMs).changes;
    const b = this.db.prepare('DELETE FROM log_lines WHERE received_ms < ?').run(beforeMs).changes;
    return a + b;
  }
}
