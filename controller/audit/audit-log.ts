import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';

export interface AuditRow {
  id: number;
  ts_ms: number;
  actor: string;
  action: string;
  subject: string;
  details: string;
  prev_hash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

/** The hash of a row covers its content and the previous row's hash, so any edit breaks the chain from there on. */
export function auditHash(prevHash: string, r: Pick<AuditRow, 'id' | 'ts_ms' | 'actor' | 'action' | 'subject' | 'details'>): string {
  return createHash('sha256').update(prevHash).update('\n').update(JSON.stringify([r.id, r.ts_ms, r.actor, r.action, r.subject, r.details])).digest('hex');
}

export type VerifyResult = { ok: true; rows: number } | { ok: false; rows: number; badRow: number; reason: string };

/**
 * Append-only, hash-chained audit trail in SQLite. Triggers refuse UPDATE and DELETE; the chain
 * catches what triggers cannot (someone editing the file directly).
 */
export class AuditLog {
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    this.stmts = {
      last: db.prepare<[], { id: number; hash: string }>('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1'),
      insert: db.prepare('INSERT INTO audit_log (id, ts_ms, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      list: db.prepare<[number], AuditRow>('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?'),
      all: db.prepare<[], AuditRow>('SELECT * FROM audit_log ORDER BY id'),
    };
  }

  /** Appends one row (in the caller's transaction when there is one). */
  append(actor: string, action: string, subject: string, details: unknown): AuditRow {
    const write = this.db.transaction(() => {
      const last = this.stmts.last.get();
      const row = { id: (last?.id ?? 0) + 1, ts_ms: this.now(), actor, action, subject, details: JSON.stringify(details ?? {}) };
      const prev = last?.hash ?? GENESIS;
      const hash = auditHash(prev, row);
      this.stmts.insert.run(row.id, row.ts_ms, row.actor, row.action, row.subject, row.details, prev, hash);
      return { ...row, prev_hash: prev, hash };
    });
    return write();
  }

  recent(limit: number): AuditRow[] {
    return this.stmts.list.all(limit);
  }

  /** Walks the chain from the first row; names the first row that does not verify. */
  verify(): VerifyResult {
    let prev = GENESIS;
    let expectedId = 1;
    let rows = 0;
    for (const r of this.stmts.all.iterate()) {
      rows++;
      if (r.id !== expectedId) return { ok: false, rows, badRow: expectedId, reason: `row ${expectedId} is missing (next row is ${r.id})` };
      if (r.prev_hash !== prev) return { ok: false, rows, badRow: r.id, reason: `row ${r.id} does not link to row ${r.id - 1} (prev_hash mismatch)` };
      if (auditHash(prev, r) !== r.hash) return { ok: false, rows, badRow: r.id, reason: `row ${r.id} was modified (hash mismatch)` };
      prev = r.hash;
      expectedId++;
    }
    return { ok: true, rows };
  }
}
