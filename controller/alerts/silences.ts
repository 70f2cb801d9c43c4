import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { errorLine, OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { compileMatcher, matchAll, type CompiledMatcher, type Labels, type Matcher } from '../../shared/alerts/matchers.js';

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAtMs: number;
  endsAtMs: number;
  createdBy: string;
  comment: string;
  createdMs: number;
  removedMs: number | null;
}

/** A change made through this store (not through apply*), heard after it is written. */
export type SilenceChange = { op: 'create'; silence: Silence } | { op: 'remove'; id: string; removedMs: number };

export type SilenceStatus = 'pending' | 'active' | 'expired' | 'removed';

interface SilenceRow {
  id: string;
  matchers: string;
  starts_at_ms: number;
  ends_at_ms: number;
  created_by: string;
  comment: string;
  created_ms: number;
  removed_ms: number | null;
}

const fromRow = (r: SilenceRow): Silence => ({
  id: r.id,
  matchers: JSON.parse(r.matchers) as Matcher[],
  startsAtMs: r.starts_at_ms,
  endsAtMs: r.ends_at_ms,
  createdBy: r.created_by,
  comment: r.comment,
  createdMs: r.created_ms,
  removedMs: r.removed_ms,
});

export function silenceStatus(s: Silence, now: number): SilenceStatus {
  if (s.removedMs !== null) return 'removed';
  if (now < s.startsAtMs) return 'pending';
  if (now >= s.endsAtMs) return 'expired';
  return 'active';
}

/**
 * Silences in SQLite with their matchers compiled in memory. A silenced alert is kept and shown;
 * only its notifications are held back. Removing a silence keeps its row (marked removed) for
 * the record.
 */
export class Silences {
  private readonly s;
  private compiled: Array<{ s: Silence; ms: CompiledMatcher[] }> = [];
  /** Ids of stored silences that no longer compile, warned about once each. */
  private readonly warned = new Set<string>();
  /** Stored silences skipped because their matchers no longer compile (e.g. a pattern RE2 refuses). */
  skipped = 0;
  private readonly listeners = new Set<(c: SilenceChange) => void>();

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
    private readonly log?: Logger,
  ) {
    this.s = {
      insertIfNew: db.prepare('INSERT OR IGNORE INTO silences (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, created_ms, removed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      insert: db.prepare('INSERT INTO silences (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      remove: db.prepare('UPDATE silences SET removed_ms = ? WHERE id = ? AND removed_ms IS NULL'),
      get: db.prepare<[string], SilenceRow>('SELECT * FROM silences WHERE id = ?'),
      live: db.prepare<[number], SilenceRow>('SELECT * FROM silences WHERE removed_ms IS NULL AND ends_at_ms > ?'),
      all: db.prepare<[number], SilenceRow>('SELECT * FROM silences ORDER BY created_ms DESC LIMIT ?'),
      prune: db.prepare('DELETE FROM silences WHERE ends_at_ms < ? OR (removed_ms IS NOT NULL AND removed_ms < ?)'),
    };
    this.reload();
  }

  /** Recompiles the not-yet-ended silences (after a change, and on every sweep to drop expired ones). */
  reload(): void {
    const out: Array<{ s: Silence; ms: CompiledMatcher[] }> = [];
    let skipped = 0;
    for (const r of this.s.live.all(this.now())) {
      // A row written by an older version may hold a pattern today's engine refuses (e.g. a
      // backreference from the RegExp days): skip that silence with a warning, never fail the
      // start of the controller or the sweep over one row.
      try {
        const s = fromRow(r);
        out.push({ s, ms: s.matchers.map(compileMatcher) });
      } catch (err) {
        skipped++;
        if (!this.warned.has(r.id)) {
          this.warned.add(r.id);
          this.log?.warn({ silence: r.id, matchers: r.matchers.slice(0, 500), reason: errorLine(err) }, 'stored silence skipped: its matchers do not compile');
        }
      }
    }
    this.compiled = out;
    this.skipped = skipped;
  }

  add(input: { matchers: Matcher[]; startsAtMs?: number; endsAtMs: number; createdBy: string; comment: string }): Silence {
    if (input.matchers.length === 0) throw new OpsError('OPS_ERR_SILENCE_INVALID', 'a silence needs at least one matcher');
    input.matchers.forEach(compileMatcher);
    const now = this.now();
    const starts = input.startsAtMs ?? now;
    if (input.endsAtMs <= starts) throw new OpsError('OPS_ERR_SILENCE_INVALID', 'a silence must end after it starts');
    if (input.matchers.every((m) => compileMatcher(m).test({}))) throw new OpsError('OPS_ERR_SILENCE_INVALID', 'a silence must not match every alert (its matchers all match empty labels)');
    const s: Silence = { id: randomUUID(), matchers: input.matchers, startsAtMs: starts, endsAtMs: input.endsAtMs, createdBy: input.createdBy, comment: input.comment, createdMs: now, removedMs: null };
    this.s.insert.run(s.id, JSON.stringify(s.matchers), s.startsAtMs, s.endsAtMs, s.createdBy, s.comment, s.createdMs);
    this.reload();
    this.emit({ op: 'create', silence: s });
    return s;
  }

  /** Marks a silence removed; false when there is no such live silence. */
  remove(id: string): boolean {
    const now = this.now();
    const ok = this.s.remove.run(now, id).changes === 1;
    if (ok) {
      this.reload();
      this.emit({ op: 'remove', id, removedMs: now });
    }
    return ok;
  }

  /** Hears every silence created or removed here (the control log publishes them). */
  onChange(fn: (c: SilenceChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(c: SilenceChange): void {
    for (const fn of this.listeners) fn(c);
  }

  /**
   * A silence another controller created (control log); idempotent by id. Its matchers are
   * compiled first: a record is a claim, and a silence this engine cannot run is refused.
   */
  applyCreate(s: Silence): void {
    if (s.matchers.length === 0) throw new OpsError('OPS_ERR_SILENCE_INVALID', `silence ${s.id}: no matchers`);
    s.matchers.forEach(compileMatcher);
    if (this.s.insertIfNew.run(s.id, JSON.stringify(s.matchers), s.startsAtMs, s.endsAtMs, s.createdBy, s.comment, s.createdMs, s.removedMs).changes) this.reload();
  }

  /** A removal made on another controller (control log); idempotent. */
  applyRemove(id: string, removedMs: number): void {
    if (this.s.remove.run(removedMs, id).changes) this.reload();
  }

  get(id: string): Silence | undefined {
    const r = this.s.get.get(id);
    return r ? fromRow(r) : undefined;
  }

  list(limit = 1000): Silence[] {
    return this.s.all.all(limit).map(fromRow);
  }

  /** Ids of the active silences matching these labels (empty: not silenced). */
  silencedBy(labels: Labels, now = this.now()): string[] {
    const out: string[] = [];
    for (const { s, ms } of this.compiled) {
      if (now >= s.startsAtMs && now < s.endsAtMs && matchAll(ms, labels)) out.push(s.id);
    }
    return out;
  }

  prune(beforeMs: number): number {
    const n = this.s.prune.run(beforeMs, beforeMs).changes;
    if (n) this.reload();
    return n;
  }
}
