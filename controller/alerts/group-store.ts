import type Database from 'better-sqlite3';

/**
 * When each aggregation group was first due (created + group_wait), in SQLite: after a restart
 * (a SIGKILL included) a group keeps its timers — a pending first flush happens when it was
 * due, not a fresh group_wait later, and a flushed group stays on its group_interval grid. One
 * row per group, written when the group is created and deleted with it.
 */
export class GroupStore {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      get: db.prepare<[string], { first_flush_ms: number }>('SELECT first_flush_ms FROM alert_groups WHERE group_key = ?'),
      put: db.prepare('INSERT OR REPLACE INTO alert_groups (group_key, first_flush_ms, created_ms) VALUES (?, ?, ?)'),
      del: db.prepare('DELETE FROM alert_groups WHERE group_key = ?'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM alert_groups'),
      all: db.prepare<[], { group_key: string }>('SELECT group_key FROM alert_groups'),
    };
  }

  firstFlush(key: string): number | undefined {
    return this.s.get.get(key)?.first_flush_ms;
  }

  put(key: string, firstFlushMs: number, createdMs: number): void {
    this.s.put.run(key, firstFlushMs, createdMs);
  }

  delete(key: string): void {
    this.s.del.run(key);
  }

  /** Deletes the rows of groups that did not come back at start (their alerts resolved or were pruned meanwhile). */
  retainOnly(keys: ReadonlySet<string>): number {
    let n = 0;
    for (const { group_key } of this.s.all.all()) {
      if (!keys.has(group_key)) n += this.s.del.run(group_key).changes;
    }
    return n;
  }

  get size(): number {
    return this.s.count.get()!.n;
  }
}

/**
 * When a restored group is next due: its first flush if that is still ahead, else the next tick
 * of its group_interval grid counted from the first flush (never in the past).
 */
export function nextDue(firstFlushMs: number, intervalMs: number, now: number): number {
  if (firstFlushMs >= now) return firstFlushMs;
  const ticks = Math.ceil((now - firstFlushMs) / intervalMs);
  return firstFlushMs + ticks * intervalMs;
}
