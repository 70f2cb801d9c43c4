import type Database from 'better-sqlite3';

/** What a receiver was last told about a group (Alertmanager's notification log entry). */
export interface NotifyStateEntry {
  firing: Set<string>;
  resolved: Set<string>;
  tsMs: number;
}

export interface NotificationRow {
  id: number;
  ts_ms: number;
  receiver: string;
  kind: string;
  group_keys: string;
  status: string;
  alerts: number;
  merged: number;
  attempt: number;
  outcome: string;
  code: string;
  detail: string;
  bytes: number;
  duration_ms: number;
}

export type NotificationRecord = Omit<NotificationRow, 'id'>;

/** A change made through this store (not through apply*), heard after it is written. */
export type NotifyChange = { op: 'state'; groupKey: string; receiver: string; firing: string[]; resolved: string[]; tsMs: number } | { op: 'log'; record: NotificationRecord };

/** Per (group, receiver) delivery state and the log of every notification attempt, in SQLite. */
export class NotifyStore {
  private readonly s;
  private readonly cache = new Map<string, NotifyStateEntry | null>();
  private readonly listeners = new Set<(c: NotifyChange) => void>();

  constructor(private readonly db: Database.Database) {
    this.s = {
      get: db.prepare<[string, string], { firing: string; resolved: string; ts_ms: number }>('SELECT firing, resolved, ts_ms FROM notify_state WHERE group_key = ? AND receiver = ?'),
      put: db.prepare(
        'INSERT INTO notify_state (group_key, receiver, firing, resolved, ts_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(group_key, receiver) DO UPDATE SET firing = excluded.firing, resolved = excluded.resolved, ts_ms = excluded.ts_ms',
      ),
      putNewer: db.prepare(
        'INSERT INTO notify_state (group_key, receiver, firing, resolved, ts_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(group_key, receiver) DO UPDATE SET firing = excluded.firing, resolved = excluded.resolved, ts_ms = excluded.ts_ms WHERE excluded.ts_ms >= notify_state.ts_ms',
      ),
      del: db.prepare('DELETE FROM notify_state WHERE group_key = ? AND receiver = ?'),
      log: db.prepare(
        'INSERT INTO notifications (ts_ms, receiver, kind, group_keys, status, alerts, merged, attempt, outcome, code, detail, bytes, duration_ms) VALUES (@ts_ms, @receiver, @kind, @group_keys, @status, @alerts, @merged, @attempt, @outcome, @code, @detail, @bytes, @duration_ms)',
      ),
      prune: db.prepare('DELETE FROM notifications WHERE ts_ms < ?'),
      pruneState: db.prepare('DELETE FROM notify_state WHERE ts_ms < ?'),
    };
  }

  get(groupKey: string, receiver: string): NotifyStateEntry | undefined {
    const k = `${groupKey}\u0000${receiver}`;
    let e = this.cache.get(k);
    if (e === undefined) {
      const row = this.s.get.get(groupKey, receiver);
      e = row ? { firing: new Set(JSON.parse(row.firing) as string[]), resolved: new Set(JSON.parse(row.resolved) as string[]), tsMs: row.ts_ms } : null;
      this.cache.set(k, e);
    }
    return e ?? undefined;
  }

  put(groupKey: string, receiver: string, firing: readonly string[], resolved: readonly string[], tsMs: number): void {
    this.s.put.run(groupKey, receiver, JSON.stringify(firing), JSON.stringify(resolved), tsMs);
    this.cache.set(`${groupKey}\u0000${receiver}`, { firing: new Set(firing), resolved: new Set(resolved), tsMs });
    this.emit({ op: 'state', groupKey, receiver, firing: [...firing], resolved: [...resolved], tsMs });
  }

  /** Hears every state write and log row made here (the control log publishes them). */
  onChange(fn: (c: NotifyChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(c: NotifyChange): void {
    for (const fn of this.listeners) fn(c);
  }

  /**
   * What another controller told a receiver (control log). An older record never overwrites a
   * newer state: a former leader flushing its outbox after a restart must not roll back what
   * the new leader sent since.
   */
  applyState(groupKey: string, receiver: string, firing: readonly string[], resolved: readonly string[], tsMs: number): void {
    if (this.s.putNewer.run(groupKey, receiver, JSON.stringify(firing), JSON.stringify(resolved), tsMs).changes) this.cache.delete(`${groupKey}\u0000${receiver}`);
  }

  /** A notification attempt another controller made (control log), for the delivery history. */
  applyLog(r: NotificationRecord): void {
    this.s.log.run(r);
  }

  delete(groupKey: string, receiver: string): void {
    this.s.del.run(groupKey, receiver);
    this.cache.set(`${groupKey}\u0000${receiver}`, null);
  }

  log(r: NotificationRecord): void {
    this.s.log.run(r);
    this.emit({ op: 'log', record: r });
  }

  list(q: { receiver?: string | undefined; limit: number }): NotificationRow[] {
    if (q.receiver) return this.db.prepare<[string, number], NotificationRow>('SELECT * FROM notifications WHERE receiver = ? ORDER BY id DESC LIMIT ?').all(q.receiver, q.limit);
    return this.db.prepare<[number], NotificationRow>('SELECT * FROM notifications ORDER BY id DESC LIMIT ?').all(q.limit);
  }

  /** Counts of attempts by receiver and outcome. */
  summary(): Array<{ receiver: string; outcome: string; n: number }> {
    return this.db.prepare<[], { receiver: string; outcome: string; n: number }>('SELECT receiver, outcome, count(*) AS n FROM notifications GROUP BY receiver, outcome').all();
  }

  prune(beforeMs: number): number {
    this.cache.clear();
    this.s.pruneState.run(beforeMs);
    return this.s.prune.run(beforeMs).changes;
  }
}
