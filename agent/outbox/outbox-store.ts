import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { eventId } from '../../shared/nats/subjects.js';
import { openStep, sqliteOpenError } from '../../shared/sqlite.js';
import { OpsError } from '../../shared/errors.js';

/** What a component hands to the outbox: the kind and the payload oneof of an Event. */
export type EventPayload = Pick<Event, 'heartbeat' | 'alert' | 'json'>;

export interface OutboxRow {
  seq: number;
  kind: string;
  data: Uint8Array;
}

export interface OutboxLimits {
  maxEvents: number;
  maxBytes: number;
}

/**
 * The agent's durable queue of events (SQLite, WAL, in the state dir). Every event is written
 * here before any publish and removed only after JetStream acknowledged it, so a crash or a
 * NATS outage loses nothing. Bounded: past maxEvents/maxBytes the oldest events are evicted,
 * and the eviction is counted persistently so it can be reported.
 *
 * Durability: WAL with synchronous=NORMAL survives a killed process (kill -9); a power loss may
 * lose the last transactions, a trade-off documented in docs/wire-format.md.
 */
export class OutboxStore {
  private readonly db: Database.Database;
  private lastSeq: number;
  private count: number;
  private bytes: number;
  private evictedTotal: number;
  private readonly stmts;
  private readonly listeners = new Set<() => void>();

  constructor(
    stateDir: string,
    private readonly identity: { hostId: string; instanceId: string },
    private readonly limits: OutboxLimits,
    private readonly now: () => number = Date.now,
  ) {
    try {
      this.db = new Database(join(stateDir, 'outbox.db'));
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      `);
    } catch (err) {
      throw sqliteOpenError(err, join(stateDir, 'outbox.db'), 'outbox', 'OPS_ERR_OUTBOX_OPEN');
    }
    this.stmts = {
      insert: this.db.prepare('INSERT INTO outbox (seq, kind, data) VALUES (?, ?, ?)'),
      setMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getMeta: this.db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?'),
      peek: this.db.prepare<[number, number], OutboxRow>('SELECT seq, kind, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      sizeRange: this.db.prepare<[number, number], { n: number; b: number | null }>('SELECT count(*) AS n, sum(length(data)) AS b FROM outbox WHERE seq BETWEEN ? AND ?'),
      deleteRange: this.db.prepare('DELETE FROM outbox WHERE seq BETWEEN ? AND ?'),
      oldest: this.db.prepare<[number], { seq: number; len: number }>('SELECT seq, length(data) AS len FROM outbox ORDER BY seq LIMIT ?'),
      stats: this.db.prepare<[], { n: number; b: number | null; maxSeq: number | null }>('SELECT count(*) AS n, sum(length(data)) AS b, max(seq) AS maxSeq FROM outbox'),
    };
    // The first full read of the table: a file damaged mid-way shows here, not at open.
    const st = openStep(() => this.stmts.stats.get()!, join(stateDir, 'outbox.db'), 'outbox', 'OPS_ERR_OUTBOX_OPEN');
    this.count = st.n;
    this.bytes = st.b ?? 0;
    this.lastSeq = Math.max(this.meta('last_seq'), st.maxSeq ?? 0);
    this.evictedTotal = this.meta('evicted_total');
  }

  private meta(key: string): number {
    return this.stmts.getMeta.get(key)?.value ?? 0;
  }

  /** Persists events in one transaction and returns their seqs; the listeners hear of it after commit. */
  appendMany(items: ReadonlyArray<{ kind: string; payload: EventPayload; tsMs?: number }>): number[] {
    if (items.length === 0) return [];
    const seqs: number[] = [];
    const tx = this.db.transaction(() => {
      let seq = this.lastSeq;
      let added = 0;
      for (const item of items) {
        seq += 1;
        const data = Event.encode({
          id: eventId(this.identity.hostId, this.identity.instanceId, seq),
          hostId: this.identity.hostId,
          instanceId: this.identity.instanceId,
          seq,
          tsMs: item.tsMs ?? this.now(),
          kind: item.kind,
          ...item.payload,
        }).finish();
        this.stmts.insert.run(seq, item.kind, data);
        added += data.length;
        seqs.push(seq);
      }
      this.stmts.setMeta.run('last_seq', seq);
      this.lastSeq = seq;
      this.count += items.length;
      this.bytes += added;
      this.evictIfFull();
    });
    try {
      tx();
    } catch (err) {
      // The transaction rolled back: recompute the in-memory mirrors from disk.
      this.reload();
      throw new OpsError('OPS_ERR_OUTBOX_WRITE', `outbox write failed: ${(err as Error).message}`, { cause: err, retryable: true });
    }
    for (const l of this.listeners) l();
    return seqs;
  }

  append(kind: string, payload: EventPayload, tsMs?: number): number {
    return this.appendMany([{ kind, payload, ...(tsMs === undefined ? {} : { tsMs }) }])[0]!;
  }

  private evictIfFull(): void {
    if (this.count <= this.limits.maxEvents && this.bytes <= this.limits.maxBytes) return;
    // Evict in chunks: oldest first, until both bounds hold again.
    let evicted = 0;
    while (this.count > this.limits.maxEvents || this.bytes > this.limits.maxBytes) {
      const overCount = Math.max(1, this.count - this.limits.maxEvents);
      const rows = this.stmts.oldest.all(Math.min(Math.max(overCount, 64), 10_000));
      if (rows.length === 0) break;
      let i = 0;
      let freed = 0;
      while (i < rows.length && (this.count - i > this.limits.maxEvents || this.bytes - freed > this.limits.maxBytes)) {
        freed += rows[i]!.len;
        i++;
      }
      if (i === 0) break;
      this.stmts.deleteRange.run(rows[0]!.seq, rows[i - 1]!.seq);
      this.count -= i;
      this.bytes -= freed;
      evicted += i;
    }
    this.evictedTotal += evicted;
    this.stmts.setMeta.run('evicted_total', this.evictedTotal);
  }

  /** Oldest events with seq > afterSeq, in seq order. */
  peek(afterSeq: number, limit: number): OutboxRow[] {
    return this.stmts.peek.all(afterSeq, limit);
  }

  /** Removes acknowledged events [firstSeq, lastSeq]. Rows already evicted are simply absent. */
  ack(firstSeq: number, lastSeq: number): void {
    const tx = this.db.transaction(() => {
      const r = this.stmts.sizeRange.get(firstSeq, lastSeq)!;
      this.stmts.deleteRange.run(firstSeq, lastSeq);
      this.count -= r.n;
      this.bytes -= r.b ?? 0;
    });
    tx();
  }

  private reload(): void {
    const st = this.stmts.stats.get()!;
    this.count = st.n;
    this.bytes = st.b ?? 0;
    this.lastSeq = Math.max(this.meta('last_seq'), st.maxSeq ?? 0);
    this.evictedTotal = this.meta('evicted_total');
  }

  /** Called after each committed append (used to wake the publisher). */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether `n` more events fit without evicting: sources that must not lose data pause on false. */
  hasRoom(n = 1): boolean {
    return this.count + n <= this.limits.maxEvents && this.bytes < this.limits.maxBytes;
  }

  stats(): { depth: number; bytes: number; lastSeq: number; evictedTotal: number } {
    return { depth: this.count, bytes: this.bytes, lastSeq: this.lastSeq, evictedTotal: this.evictedTotal };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
