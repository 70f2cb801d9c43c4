import type Database from 'better-sqlite3';

export interface EventRow {
  id: string;
  host_id: string;
  kind: string;
  instance_id: string;
  seq: number;
  ts_ms: number;
  received_ms: number;
  payload: string;
  /** Controller time after which the pruner deletes the row. */
  expires_ms: number;
}

/** A message or event ingest refused, with why (the newest 1,000 are kept). */
export interface RejectedRow {
  id: number;
  received_ms: number;
  subject: string;
  stream_seq: number;
  reason: string;
  size: number;
}

export interface EventQuery {
  host?: string | undefined;
  kind?: string | undefined;
  /** Only events received after this controller time (ms). */
  sinceMs?: number | undefined;
  limit: number;
}

/** Raw events (unique on the event id) plus the controller's own counters. */
export class EventsStore {
  private readonly stmts;
  private controllerSeq = 0;

  /**
   * @param retentionMs how long events are kept unless the caller gives an expiry
   *   (`retention.events`); ingest gives high-volume samples a shorter one.
   */
  constructor(
    private readonly db: Database.Database,
    private readonly retentionMs = 7 * 86_400_000,
  ) {
    this.stmts = {
      content: db.prepare<[string], { kind: string; ts_ms: number; payload: string }>('SELECT kind, ts_ms, payload FROM events WHERE id = ?'),
      insert: db.prepare('INSERT OR IGNORE INTO events (id, host_id, kind, instance_id, seq, ts_ms, received_ms, payload, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      pruneChunk: db.prepare('DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE expires_ms < ? LIMIT ?)'),
      pruneOldest: db.prepare('DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY received_ms LIMIT ?)'),
      count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM events'),
      addCounter: db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value'),
      counters: db.prepare<[], { name: string; value: number }>('SELECT name, value FROM counters'),
      reject: db.prepare('INSERT INTO rejected_messages (received_ms, subject, stream_seq, reason, size) VALUES (?, ?, ?, ?, ?)'),
      rejectedList: db.prepare<[number], RejectedRow>('SELECT * FROM rejected_messages ORDER BY id DESC LIMIT ?'),
      rejectedTrim: db.prepare('DELETE FROM rejected_messages WHERE id <= (SELECT max(id) FROM rejected_messages) - 1000'),
    };
  }

  /** Inserts one event; false when an event with this id is already stored (a duplicate). Expiry defaults to the events retention. */
  insert(e: Omit<EventRow, 'expires_ms'> & { expires_ms?: number }): boolean {
    return this.stmts.insert.run(e.id, e.host_id, e.kind, e.instance_id, e.seq, e.ts_ms, e.received_ms, e.payload, e.expires_ms ?? e.received_ms + this.retentionMs).changes === 1;
  }

  /**
   * Whether the stored event with this id is the same event (a redelivery, not a reused id):
   * same kind and agent time, and the same payload except for heartbeats, whose stored form
   * depends on the host record at the time (the inventory is kept only when it changed).
   */
  sameContent(e: Pick<EventRow, 'id' | 'kind' | 'ts_ms' | 'payload'>): boolean {
    const r = this.stmts.content.get(e.id);
    return !r || (r.kind === e.kind && r.ts_ms === e.ts_ms && (e.kind === 'hb' || r.payload === e.payload));
  }

  /** Records an event the controller itself observed (host went offline, came back...). */
  insertControllerEvent(hostId: string, kind: string, nowMs: number, payload: unknown): string {
    this.controllerSeq++;
    const id = `controller:${kind}:${hostId}:${nowMs}:${this.controllerSeq}`;
    this.insert({ id, host_id: hostId, kind, instance_id: 'controller', seq: 0, ts_ms: nowMs, received_ms: nowMs, payload: JSON.stringify(payload) });
    return id;
  }

  query(q: EventQuery): EventRow[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (q.host) {
      where.push('host_id = ?');
      args.push(q.host);
    }
    if (q.kind) {
      where.push('kind = ?');
      args.push(q.kind);
    }
    if (q.sinceMs !== undefined) {
      where.push('received_ms > ?');
      args.push(q.sinceMs);
    }
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts_ms, seq LIMIT ?`;
    return this.db.prepare<Array<string | number>, EventRow>(sql).all(...args, q.limit);
  }

  /** Deletes up to `chunk` events whose expiry is before `nowMs`; returns how many went. */
  pruneChunk(nowMs: number, chunk: number): number {
    return this.stmts.pruneChunk.run(nowMs, chunk).changes;
  }

  /** The disk guard's tightening: the `n` oldest events by arrival, whatever their expiry. */
  pruneOldest(n: number): number {
    return this.stmts.pruneOldest.run(n).changes;
  }

  count(): number {
    return this.stmts.count.get()!.n;
  }

  addCounter(name: string, delta: number): void {
    this.stmts.addCounter.run(name, delta);
  }

  counters(): Record<string, number> {
    return Object.fromEntries(this.stmts.counters.all().map((r) => [r.name, r.value]));
  }

  /** The newest rejected messages and events, newest first. */
  rejected(limit: number): RejectedRow[] {
    return this.stmts.rejectedList.all(limit);
  }

  recordRejected(nowMs: number, subject: string, streamSeq: number, reason: string, size: number): void {
    this.stmts.reject.run(nowMs, subject, streamSeq, reason, size);
    this.stmts.rejectedTrim.run();
  }
}
