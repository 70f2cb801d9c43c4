import type Database from 'better-sqlite3';

/** Where a policy stands with one alert: the state the flap guard decides from. */
export type TrackPhase = 'idle' | 'dispatching' | 'verifying' | 'done';

export interface TrackRow {
  policy: string;
  fingerprint: string;
  host: string;
  phase: TrackPhase;
  attempts: number;
  verify_until_ms: number;
  cooldown_until_ms: number;
  escalated: boolean;
  /** `ha.id` of the controller that made the last decision. */
  origin: string;
  updated_ms: number;
}

/** A change to one track: its new row, or its end (the alert resolved and the cooldown passed). */
export type TrackChange = { op: 'put'; row: TrackRow } | { op: 'delete'; policy: string; fingerprint: string; updated_ms: number };

interface Row extends Omit<TrackRow, 'escalated'> {
  escalated: number;
}

/**
 * The self-heal flap guard in SQLite (`policy_tracks`): every decision of the policy engine
 * (dispatched, verifying, attempt failed, escalated, succeeded, forgotten) is written here and
 * handed to onChange (the control log publishes it), so a controller that starts leading, after
 * a failover or a restart, continues the count instead of granting a fresh set of attempts.
 */
export class PolicyTrackStore {
  private readonly s;
  private readonly listeners = new Set<(c: TrackChange) => void>();

  constructor(db: Database.Database) {
    this.s = {
      put: db.prepare(
        `INSERT INTO policy_tracks (policy, fingerprint, host, phase, attempts, verify_until_ms, cooldown_until_ms, escalated, origin, updated_ms)
         VALUES (@policy, @fingerprint, @host, @phase, @attempts, @verify_until_ms, @cooldown_until_ms, @escalated, @origin, @updated_ms)
         ON CONFLICT(policy, fingerprint) DO UPDATE SET host = excluded.host, phase = excluded.phase, attempts = excluded.attempts,
           verify_until_ms = excluded.verify_until_ms, cooldown_until_ms = excluded.cooldown_until_ms, escalated = excluded.escalated,
           origin = excluded.origin, updated_ms = excluded.updated_ms`,
      ),
      del: db.prepare('DELETE FROM policy_tracks WHERE policy = ? AND fingerprint = ?'),
      all: db.prepare<[], Row>('SELECT * FROM policy_tracks ORDER BY policy, fingerprint'),
    };
  }

  all(): TrackRow[] {
    return this.s.all.all().map((r) => ({ ...r, escalated: r.escalated === 1 }));
  }

  /** A decision made here: stored and published. */
  put(row: TrackRow): void {
    this.applyPut(row);
    this.emit({ op: 'put', row });
  }

  /**
   * A track ended here: removed and published. Most tracks the engine forgets were never
   * written (an alert that resolved before the policy's `for`): those publish nothing.
   */
  delete(policy: string, fingerprint: string, nowMs: number): void {
    if (this.applyDelete(policy, fingerprint)) this.emit({ op: 'delete', policy, fingerprint, updated_ms: nowMs });
  }

  /** A decision another controller made (control log, applied in stream order). */
  applyPut(row: TrackRow): void {
    this.s.put.run({ ...row, escalated: row.escalated ? 1 : 0 });
  }

  /** True when there was a row. */
  applyDelete(policy: string, fingerprint: string): boolean {
    return this.s.del.run(policy, fingerprint).changes > 0;
  }

  onChange(fn: (c: TrackChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(c: TrackChange): void {
    for (const fn of this.listeners) fn(c);
  }
}
