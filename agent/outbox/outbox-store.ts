import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { eventId } from '../../shared/nats/subjects.js';
import { openStep } from '../../shared/sqlite.js';
import { OpsError } from '../../shared/errors.js';
// The payload type belongs to the sink interface this store implements (one direction: outbox → events).
import type { EventPayload } from '../events/sink.js';
import { ComponentStateTable, type StatePut } from './component-state.js';

export type { EventPayload };

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
  private componentState: ComponentStateTable | undefined;
  private readonly fullListeners = new Set<() => void>();
  /** While the disk is full only these kinds are written (liveness and alerts), see disk-full.ts. */
  private priorityOnly: ReadonlySet<string> | undefined;
  private readonly identity: { hostId: string; instanceId: string };

  /** The instance id this outbox's seqs were counted under (undefined: a new, reset or pre-binding outbox). */
  readonly boundInstanceId: string | undefined;
  /** Where a corrupt outbox file was moved before a fresh one was made (its events are lost, its seqs void). */
  readonly movedCorrupt: string | undefined;

  constructor(
    stateDir: string,
    identity: { hostId: string; instanceId: string },
    private readonly limits: OutboxLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.identity = { ...identity };
    const file = join(stateDir, 'outbox.db');
    let opened: { db: Database.Database; bound: string | undefined };
    try {
      opened = openOutboxDb(file);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'SQLITE_CORRUPT' && code !== 'SQLITE_NOTADB') {
        throw new OpsError('OPS_ERR_OUTBOX_OPEN', `cannot open outbox ${file}: ${(err as Error).message}`, { cause: err });
      }
      // A damaged outbox cannot be trusted for its seq counter: keep it for inspection, start a
      // new one (the caller then takes a new instance id so no event id is ever reused).
      this.movedCorrupt = `${file}.corrupt-${this.now()}`;
      try {
        for (const sfx of ['-wal', '-shm']) if (existsSync(file + sfx)) renameSync(file + sfx, this.movedCorrupt + sfx);
        renameSync(file, this.movedCorrupt);
        opened = openOutboxDb(file);
      } catch (err2) {
        throw new OpsError('OPS_ERR_OUTBOX_OPEN', `outbox ${file} is corrupt (${(err as Error).message}) and could not be replaced: ${(err2 as Error).message}`, { cause: err2 });
      }
    }
    this.db = opened.db;
    this.boundInstanceId = opened.bound;
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
    if (this.boundInstanceId !== identity.instanceId) this.bindInstance(identity.instanceId);
  }

  /**
   * Whether this outbox's seq counter belongs to a different identity than `instanceId` in a
   * way that could reuse event ids: a new, reset or corrupt-replaced outbox (seqs restart at 1)
   * or one bound to another instance id. An outbox from before the binding existed (events or a
   * counter, no bound id) continues its counter and is not a reset.
   */
  seqsMayRepeat(instanceId: string): boolean {
    if (this.movedCorrupt) return true;
    if (this.boundInstanceId === undefined) return this.lastSeq === 0;
    return this.boundInstanceId !== instanceId;
  }

  /**
   * Binds the outbox to an instance id; every later event carries it. Only before the first
   * append: events already stored keep the id they were encoded with.
   */
  bindInstance(instanceId: string): void {
    this.db.prepare("INSERT INTO identity (key, value) VALUES ('instance_id', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(instanceId);
    this.identity.instanceId = instanceId;
  }

  private meta(key: string): number {
    return this.stmts.getMeta.get(key)?.value ?? 0;
  }

  private get stateTable(): ComponentStateTable {
    this.componentState ??= new ComponentStateTable(this.db);
    return this.componentState;
  }

  /**
   * Persists events in one transaction and returns their seqs; the listeners hear of it after
   * commit. `state`: component state rows (log checkpoints) committed in the same transaction,
   * so a crash keeps both or neither.
   */
  appendMany(items: ReadonlyArray<{ kind: string; payload: EventPayload; tsMs?: number }>, state?: readonly StatePut[]): number[] {
    if (items.length === 0 && !state?.length) return [];
    const only = this.priorityOnly;
    if (only && items.some((i) => !only.has(i.kind))) {
      throw new OpsError('OPS_ERR_OUTBOX_DISK_FULL', `disk full: only ${[...only].join(' and ')} events are written until space is back`, { retryable: true });
    }
    const seqs: number[] = [];
    const stateTable = state?.length ? this.stateTable : undefined;
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
      if (items.length > 0) {
        this.stmts.setMeta.run('last_seq', seq);
        this.lastSeq = seq;
        this.count += items.length;
        this.bytes += added;
        this.evictIfFull();
      }
      stateTable?.apply(state!);
    });
    try {
      tx();
    } catch (err) {
      // The transaction rolled back: recompute the in-memory mirrors from disk.
      this.reload();
      if (isDiskFull(err)) {
        for (const l of this.fullListeners) l();
        throw new OpsError('OPS_ERR_OUTBOX_DISK_FULL', `outbox write failed, disk full: ${(err as Error).message}`, { cause: err, retryable: true });
      }
      throw new OpsError('OPS_ERR_OUTBOX_WRITE', `outbox write failed: ${(err as Error).message}`, { cause: err, retryable: true });
    }
    if (seqs.length) for (const l of this.listeners) l();
    return seqs;
  }

  /** Writes component state alone (no events), in one transaction; `replace` scopes are emptied first. */
  writeState(puts: readonly StatePut[], replace: readonly string[] = []): void {
    const t = this.stateTable;
    try {
      this.db.transaction(() => t.apply(puts, replace))();
    } catch (err) {
      throw new OpsError('OPS_ERR_OUTBOX_WRITE', `outbox state write failed: ${(err as Error).message}`, { cause: err, retryable: true });
    }
  }

  /** A component's state rows, by key. */
  readState(scope: string): Array<{ key: string; value: string }> {
    return this.stateTable.read(scope);
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

  /** Called (synchronously, inside the failing append) when a write fails because the disk is full. */
  onDiskFull(listener: () => void): () => void {
    this.fullListeners.add(listener);
    return () => this.fullListeners.delete(listener);
  }

  /** Restricts writes to these kinds (undefined: all). Others fail at once without touching the disk. */
  setPriorityOnly(kinds: ReadonlySet<string> | undefined): void {
    this.priorityOnly = kinds;
  }

  /** Moves the WAL into the database and truncates it: while the disk is full the WAL must not grow. */
  checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      /* a busy or failing checkpoint is retried on the next call */
    }
  }

  /** Whether `n` more events fit without evicting: sources that must not lose data pause on false. */
  hasRoom(n = 1): boolean {
    if (this.priorityOnly) return false;
    return this.count + n <= this.limits.maxEvents && this.bytes < this.limits.maxBytes;
  }

  stats(): { depth: number; bytes: number; lastSeq: number; evictedTotal: number } {
    return { depth: this.count, bytes: this.bytes, lastSeq: this.lastSeq, evictedTotal: this.evictedTotal };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Opens (creating) the outbox database and reads its bound instance id; SQLite errors propagate with their code. */
function openOutboxDb(file: string): { db: Database.Database; bound: string | undefined } {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS identity (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    // Reading the whole table once finds a truncated or damaged file now, not at the first publish.
    db.prepare('SELECT count(*) AS n, sum(length(data)) AS b, max(seq) AS m FROM outbox').get();
    const row = db.prepare<[], { value: string }>("SELECT value FROM identity WHERE key = 'instance_id'").get();
    return { db, bound: row?.value };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** SQLite reports ENOSPC as SQLITE_FULL ("database or disk is full"); some paths surface the errno. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code.startsWith('SQLITE_IOERR') && /ENOSPC|disk is full/i.test(String((err as Error).message));
}
