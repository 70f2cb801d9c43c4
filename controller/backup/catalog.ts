import type Database from 'better-sqlite3';
import type { Event } from '../../shared/gen/opsfleet/v1/events.js';
import type { Logger } from '../../shared/logger.js';

/** A snapshot as the API shows it. */
export interface BackupSnapshotView {
  host: string;
  set: string;
  id: string;
  type: string;
  parent: string | null;
  time: string;
  files: number;
  bytes: number;
  archiveBytes: number;
  deleted: number;
  durationMs: number;
  target: string;
  pruned: string | null;
}

export interface BackupSetView {
  host: string;
  set: string;
  status: string;
  lastError: string;
  lastEvent: string;
  lastSuccess: string | null;
  lastSnapshot: string;
}

interface SnapRow {
  host_id: string;
  set_name: string;
  id: string;
  type: string;
  parent: string | null;
  time_ms: number;
  files: number;
  bytes: number;
  archive_bytes: number;
  deleted: number;
  duration_ms: number;
  target: string;
  pruned_ms: number | null;
}

interface SetRow {
  host_id: string;
  set_name: string;
  status: string;
  last_error: string;
  last_event_ms: number;
  last_success_ms: number;
  last_snapshot: string;
}

const BATCH = 2000;

/**
 * The controller's catalog of backups, built from `backup` events. It reads the events table
 * after a cursor kept in the same transaction as the rows it writes, so a controller killed at
 * any moment catches up at its next start instead of missing a snapshot; ingest's onEvents
 * hook only wakes it.
 */
export class BackupCatalog {
  private readonly log: Logger;
  private readonly s;
  private stopped = false;

  constructor(
    private readonly db: Database.Database,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'backups.catalog' });
    this.s = {
      cursor: db.prepare<[], { event_rowid: number }>('SELECT event_rowid FROM backup_cursor WHERE id = 1'),
      setCursor: db.prepare('UPDATE backup_cursor SET event_rowid = ? WHERE id = 1'),
      next: db.prepare<[number, number], { rowid: number; host_id: string; ts_ms: number; payload: string }>(
        "SELECT rowid, host_id, ts_ms, payload FROM events WHERE rowid > ? AND kind = 'backup' ORDER BY rowid LIMIT ?",
      ),
      snap: db.prepare(
        `INSERT OR IGNORE INTO backup_snapshots (host_id, set_name, id, type, parent, time_ms, files, bytes, archive_bytes, deleted, duration_ms, target)
         VALUES (@host_id, @set_name, @id, @type, @parent, @time_ms, @files, @bytes, @archive_bytes, @deleted, @duration_ms, @target)`,
      ),
      prune: db.prepare('UPDATE backup_snapshots SET pruned_ms = ? WHERE host_id = ? AND set_name = ? AND id = ? AND pruned_ms IS NULL'),
      setOk: db.prepare(
        `INSERT INTO backup_sets (host_id, set_name, status, last_error, last_event_ms, last_success_ms, last_snapshot) VALUES (?, ?, 'ok', '', ?, ?, ?)
         ON CONFLICT (host_id, set_name) DO UPDATE SET status = 'ok', last_error = '', last_event_ms = excluded.last_event_ms, last_success_ms = excluded.last_success_ms, last_snapshot = excluded.last_snapshot
         WHERE excluded.last_event_ms >= backup_sets.last_event_ms`,
      ),
      setFailed: db.prepare(
        `INSERT INTO backup_sets (host_id, set_name, status, last_error, last_event_ms) VALUES (?, ?, 'failed', ?, ?)
         ON CONFLICT (host_id, set_name) DO UPDATE SET status = 'failed', last_error = excluded.last_error, last_event_ms = excluded.last_event_ms
         WHERE excluded.last_event_ms >= backup_sets.last_event_ms`,
      ),
    };
  }

  start(): void {
    this.catchUp();
  }

  /**
   * Stops following ingest: a late onEvents (ingest flushing while the controller stops) no
   * longer reads or writes, so the database can close behind it. What it skips is read at the
   * next start, from the cursor.
   */
  stop(): void {
    this.stopped = true;
  }

  /** Ingest hook: new events were committed; read any backup ones. */
  onEvents = (events: readonly Event[]): void => {
    if (this.stopped || !events.some((e) => e.kind === 'backup')) return;
    try {
      this.catchUp();
    } catch (err) {
      this.log.error({ err }, 'backup catalog update failed; retried on the next backup event');
    }
  };

  catchUp(): number {
    let total = 0;
    for (;;) {
      const n = this.db.transaction(() => {
        const from = this.s.cursor.get()?.event_rowid ?? 0;
        const rows = this.s.next.all(from, BATCH);
        for (const r of rows) this.apply(r.host_id, r.ts_ms, r.payload);
        if (rows.length) this.s.setCursor.run(rows[rows.length - 1]!.rowid);
        return rows.length;
      })();
      total += n;
      if (n < BATCH) return total;
    }
  }

  private apply(host: string, tsMs: number, payload: string): void {
    let body: Record<string, unknown>;
    try {
      const p = JSON.parse(payload) as { json?: string };
      body = JSON.parse(p.json ?? '') as Record<string, unknown>;
    } catch {
      return; // not a JSON backup event: nothing to catalog
    }
    const set = typeof body.set === 'string' ? body.set : '';
    if (!set) return;
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    if (body.event === 'snapshot' && typeof body.id === 'string') {
      const time = typeof body.time === 'string' ? Date.parse(body.time) : NaN;
      this.s.snap.run({
        host_id: host,
        set_name: set,
        id: body.id,
        type: body.type === 'full' ? 'full' : 'incremental',
        parent: typeof body.parent === 'string' ? body.parent : null,
        time_ms: Number.isFinite(time) ? time : tsMs,
        files: num(body.files),
        bytes: num(body.bytes),
        archive_bytes: num(body.archive_bytes),
        deleted: num(body.deleted),
        duration_ms: num(body.duration_ms),
        target: typeof body.target === 'string' ? body.target : '',
      });
      this.s.setOk.run(host, set, tsMs, tsMs, body.id);
    } else if (body.event === 'failed') {
      this.s.setFailed.run(host, set, typeof body.error === 'string' ? body.error : 'failed', tsMs);
    } else if (body.event === 'pruned' && Array.isArray(body.ids)) {
      for (const id of body.ids) if (typeof id === 'string') this.s.prune.run(tsMs, host, set, id);
    }
  }

  list(f: { host?: string; set?: string; includePruned?: boolean; limit?: number }): BackupSnapshotView[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.host) where.push('host_id = ?') && args.push(f.host);
    if (f.set) where.push('set_name = ?') && args.push(f.set);
    if (!f.includePruned) where.push('pruned_ms IS NULL');
    const rows = this.db
      .prepare(`SELECT * FROM backup_snapshots ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY host_id, set_name, time_ms, id LIMIT ?`)
      .all(...args, f.limit ?? 10_000) as SnapRow[];
    return rows.map((r) => ({
      host: r.host_id,
      set: r.set_name,
      id: r.id,
      type: r.type,
      parent: r.parent,
      time: new Date(r.time_ms).toISOString(),
      files: r.files,
      bytes: r.bytes,
      archiveBytes: r.archive_bytes,
      deleted: r.deleted,
      durationMs: r.duration_ms,
      target: r.target,
      pruned: r.pruned_ms === null ? null : new Date(r.pruned_ms).toISOString(),
    }));
  }

  sets(f: { host?: string; set?: string }): BackupSetView[] {
    const rows = (this.db.prepare('SELECT * FROM backup_sets ORDER BY host_id, set_name').all() as SetRow[]).filter((r) => (!f.host || r.host_id === f.host) && (!f.set || r.set_name === f.set));
    return rows.map((r) => ({
      host: r.host_id,
      set: r.set_name,
      status: r.status,
      lastError: r.last_error,
      lastEvent: new Date(r.last_event_ms).toISOString(),
      lastSuccess: r.last_success_ms ? new Date(r.last_success_ms).toISOString() : null,
      lastSnapshot: r.last_snapshot,
    }));
  }
}
