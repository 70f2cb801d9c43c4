import type Database from 'better-sqlite3';

export interface RemediationRow {
  id: number;
  policy: string;
  fingerprint: string;
  host: string;
  attempt: number;
  run_id: string;
  status: string;
  detail: string;
  started_ms: number;
  ended_ms: number | null;
}

/** Remediation records (one row per attempt or decision) and the pause switches. */
export class RemediationStore {
  private readonly stmts;
  private readonly listeners = new Set<(c: { scope: string; paused: boolean }) => void>();

  constructor(db: Database.Database) {
    this.stmts = {
      insert: db.prepare('INSERT INTO remediations (policy, fingerprint, host, attempt, run_id, status, detail, started_ms, ended_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE remediations SET run_id = ?, status = ?, detail = ?, ended_ms = ? WHERE id = ?'),
      list: db.prepare<[string, string, number], RemediationRow>("SELECT * FROM remediations WHERE (? = '' OR policy = ?) ORDER BY id DESC LIMIT ?"),
      prune: db.prepare('DELETE FROM remediations WHERE ended_ms IS NOT NULL AND ended_ms < ?'),
      getFlag: db.prepare<[string], { value: string }>('SELECT value FROM scheduler_flags WHERE key = ?'),
      setFlag: db.prepare('INSERT INTO scheduler_flags (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    };
  }

  add(r: Omit<RemediationRow, 'id'>): number {
    return Number(this.stmts.insert.run(r.policy, r.fingerprint, r.host, r.attempt, r.run_id, r.status, r.detail, r.started_ms, r.ended_ms).lastInsertRowid);
  }

  update(id: number, runId: string, status: string, detail: string, endedMs: number | null): void {
    this.stmts.update.run(runId, status, detail, endedMs, id);
  }

  list(policy: string, limit: number): RemediationRow[] {
    return this.stmts.list.all(policy, policy, limit);
  }

  /** Deletes records of attempts that ended before `beforeMs`; one still running is kept. */
  prune(beforeMs: number): number {
    return this.stmts.prune.run(beforeMs).changes;
  }

  /** `opsctl policies pause` (all, or one policy): survives restarts. */
  paused(scope: string): boolean {
    return this.stmts.getFlag.get(`paused:${scope}`)?.value === '1';
  }

  setPaused(scope: string, paused: boolean): void {
    this.applyPaused(scope, paused);
    for (const fn of this.listeners) fn({ scope, paused });
  }

  /** Hears every pause switch flipped here (the control log publishes them). */
  onPauseChange(fn: (c: { scope: string; paused: boolean }) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** A pause switch flipped on another controller (control log): a paused policy stays paused across a failover. */
  applyPaused(scope: string, paused: boolean): void {
    this.stmts.setFlag.run(`paused:${scope}`, paused ? '1' : '0');
  }
}
