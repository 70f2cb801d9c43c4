import type Database from 'better-sqlite3';
import type { Event } from '../../shared/gen/opsfleet/v1/events.js';
import type { Logger } from '../../shared/logger.js';
import { LogStore, type LineBody, type LinesBody, type StatsBody } from './log-store.js';

/**
 * Turns stored `log` events into log_stats and log_lines rows. It reads the events table past a
 * cursor (kept in the same transaction as the rows it writes) rather than trusting the ingest
 * hook's argument, so a controller killed between the ingest commit and this write catches up
 * on restart: the hook only wakes it up.
 */
export class LogIndexer {
  readonly store: LogStore;
  private readonly log: Logger;
  private readonly s;
  readonly counters = { stats: 0, lines: 0, duplicates: 0, malformed: 0, pruned: 0 };
  private readonly now: () => number;

  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Database.Database,
    logger: Logger,
    private readonly opts: { retentionMs?: number; pruneIntervalMs?: number; now?: () => number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.store = new LogStore(db);
    this.log = logger.child({ component: 'logs.index' });
    this.s = {
      cursor: db.prepare<[], { event_rowid: number }>('SELECT event_rowid FROM log_cursor WHERE id = 1'),
      setCursor: db.prepare('UPDATE log_cursor SET event_rowid = ? WHERE id = 1'),
      next: db.prepare<[number, number], { rowid: number; host_id: string; instance_id: string; ts_ms: number; received_ms: number; payload: string }>(
        "SELECT rowid, host_id, instance_id, ts_ms, received_ms, payload FROM events WHERE rowid > ? AND kind = 'log' ORDER BY rowid LIMIT ?",
      ),
      maxRowid: db.prepare<[], { m: number | null }>('SELECT max(rowid) AS m FROM events'),
    };
  }

  start(): void {
    this.catchUp();
    const { retentionMs, pruneIntervalMs } = this.opts;
    if (retentionMs && pruneIntervalMs) {
      this.pruneTimer = setInterval(() => {
        try {
          this.counters.pruned += this.store.prune(this.now() - retentionMs);
        } catch (err) {
          this.log.warn({ err }, 'log statistics prune failed; retrying next interval');
        }
      }, pruneIntervalMs);
      this.pruneTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.pruneTimer);
  }

  /** The ingest hook: new events were committed. */
  onEvents = (events: readonly Event[]): void => {
    if (!events.some((e) => e.kind === 'log')) return;
    try {
      this.catchUp();
    } catch (err) {
      this.log.error({ err }, 'log indexing failed; it resumes on the next event');
    }
  };

  catchUp(): void {
    for (;;) {
      let n = 0;
      this.db.transaction(() => {
        const from = this.s.cursor.get()?.event_rowid ?? 0;
        const rows = this.s.next.all(from, 2000);
        n = rows.length;
        let last = from;
        for (const r of rows) {
          last = r.rowid;
          this.indexOne(r);
        }
        if (n === 0) {
          // Nothing of kind log past the cursor: skip over the other kinds for the next scan.
          const m = this.s.maxRowid.get()?.m ?? from;
          if (m > from) this.s.setCursor.run(m);
        } else this.s.setCursor.run(last);
      })();
      if (n < 2000) return;
    }
  }

  private indexOne(r: { host_id: string; instance_id: string; ts_ms: number; received_ms: number; payload: string }): void {
    let body: StatsBody | LineBody | LinesBody;
    try {
      const p = JSON.parse(r.payload) as { json?: string };
      body = JSON.parse(p.json ?? 'null') as StatsBody | LineBody | LinesBody;
    } catch {
      this.counters.malformed++;
      return;
    }
    if (!body || typeof body !== 'object' || typeof body.source !== 'string') {
      this.counters.malformed++;
      return;
    }
    if (body.type === 'stats') {
      if (this.store.insertStats(r.host_id, r.instance_id, body)) this.counters.stats++;
      else this.counters.duplicates++;
    } else if (body.type === 'line') {
      if (typeof body.file !== 'string' || typeof body.offset !== 'number') {
        this.counters.malformed++;
        return;
      }
      if (this.store.insertLine(r.host_id, r.ts_ms, r.received_ms || this.now(), body)) this.counters.lines++;
      else this.counters.duplicates++;
    } else if (body.type === 'lines') {
      if (typeof body.file !== 'string' || !Array.isArray(body.lines)) {
        this.counters.malformed++;
        return;
      }
      for (const l of body.lines) {
        if (typeof l?.offset !== 'number') {
          this.counters.malformed++;
          continue;
        }
        const line: LineBody = { type: 'line', source: body.source, file: body.file, path: body.path, offset: l.offset, level: l.level ?? null, message: String(l.message ?? ''), fields: l.fields ?? {} };
        if (this.store.insertLine(r.host_id, l.ts_ms ?? r.ts_ms, r.received_ms || this.now(), line)) this.counters.lines++;
        else this.counters.duplicates++;
      }
    } else this.counters.malformed++;
  }
}
