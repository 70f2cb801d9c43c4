import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Logger } from '../../shared/logger.js';
import { readAnchor, writeAnchor, type AuditHead } from './audit-anchor.js';

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

export type VerifyResult =
  | { ok: true; rows: number; anchor?: AuditHead; warnings?: string[] }
  | { ok: false; rows: number; badRow: number; reason: string; anchor?: AuditHead; warnings?: string[] };

/** Evidence rows the log writes about itself; a truncation found is kept in the chain for good. */
const TRUNCATED = 'audit.truncated';
const ANCHOR_MISSING = 'audit.anchor_missing';

export interface AuditAnchorOptions {
  /** The head file kept apart from the table (controller: data_dir/audit-head.json). */
  file: string;
  logger: Logger;
}

/**
 * Append-only, hash-chained audit trail in SQLite. Triggers refuse UPDATE and DELETE; the chain
 * catches what triggers cannot (someone editing the file directly) except cutting rows off the
 * end, which the anchor (head count and hash in a file apart from the table, and in the log)
 * catches. What this proves and what it cannot: docs/fleet-commands.md, "Audit log".
 */
export class AuditLog {
  private readonly stmts;
  /** The head as this process last wrote it: a table behind it was cut while we ran. */
  private head: AuditHead | undefined;
  private readonly listeners = new Set<(rows: readonly AuditRow[]) => void>();
  /** Set while rows another controller wrote are appended: they are not heard again. */
  private applying = false;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
    private readonly anchor?: AuditAnchorOptions,
  ) {
    this.stmts = {
      last: db.prepare<[], { id: number; hash: string }>('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1'),
      byId: db.prepare<[number], { id: number; hash: string }>('SELECT id, hash FROM audit_log WHERE id = ?'),
      evidence: db.prepare<[string, string], AuditRow>('SELECT * FROM audit_log WHERE action IN (?, ?) ORDER BY id'),
      insert: db.prepare('INSERT INTO audit_log (id, ts_ms, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      list: db.prepare<[number], AuditRow>('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?'),
      all: db.prepare<[], AuditRow>('SELECT * FROM audit_log ORDER BY id'),
    };
    if (anchor) this.reconcile();
  }

  /**
   * Reconciles the anchor with the table at start. A table behind its anchor was cut: that is
   * written into the chain as an `audit.truncated` row (so re-anchoring cannot hide it) and
   * verify reports it from then on. A missing anchor (first start with anchoring, or deleted)
   * is recorded as `audit.anchor_missing`.
   */
  private reconcile(): void {
    const a = this.anchor!;
    const onDisk = readAnchor(a.file);
    const last = this.stmts.last.get();
    if (!onDisk) {
      if (last) {
        a.logger.warn({ file: a.file, rows: last.id }, 'audit anchor missing; anchoring at the current head (rows cut before now cannot be detected)');
        this.head = { rows: last.id, hash: last.hash, updatedMs: this.now() };
        this.append('controller', ANCHOR_MISSING, a.file, { rows: last.id, hash: last.hash });
      } else {
        this.head = { rows: 0, hash: GENESIS, updatedMs: this.now() };
        writeAnchor(a.file, this.head);
      }
      return;
    }
    this.head = onDisk;
    const problem = this.anchorProblem(onDisk);
    if (problem) {
      a.logger.error({ file: a.file, anchorRows: onDisk.rows, anchorHash: onDisk.hash, tableRows: last?.id ?? 0, reason: problem }, 'audit log does not match its anchor: rows were cut or rewritten');
      const row = this.db.transaction(() => this.insertRow('controller', TRUNCATED, a.file, { anchorRows: onDisk.rows, anchorHash: onDisk.hash, problem }))();
      this.head = { rows: row.id, hash: row.hash, updatedMs: row.ts_ms };
      writeAnchor(a.file, this.head);
    } else if ((last?.id ?? 0) > onDisk.rows) {
      // The process stopped between a commit and its anchor write: the chain still leads through the anchored row.
      this.head = { rows: last!.id, hash: last!.hash, updatedMs: this.now() };
      writeAnchor(a.file, this.head);
    }
  }

  /** Why the table does not extend the given head, or undefined when it does. */
  private anchorProblem(head: AuditHead): string | undefined {
    if (head.rows === 0) return undefined;
    const last = this.stmts.last.get();
    const lastId = last?.id ?? 0;
    if (lastId < head.rows) return `the anchor records ${head.rows} rows, the table ends at row ${lastId}: rows ${lastId + 1}..${head.rows} were deleted`;
    const anchored = this.stmts.byId.get(head.rows);
    if (!anchored) return `row ${head.rows}, the anchored head, is missing`;
    if (anchored.hash !== head.hash) return `row ${head.rows} is not the anchored head (hash ${anchored.hash.slice(0, 12)}… instead of ${head.hash.slice(0, 12)}…): the end of the log was rewritten`;
    return undefined;
  }

  /** Appends one row (in the caller's transaction when there is one). */
  append(actor: string, action: string, subject: string, details: unknown): AuditRow {
    const write = this.db.transaction(() => {
      if (this.anchor && this.head && this.head.rows > 0) {
        const problem = this.anchorProblem(this.head);
        // Evidence before anything else: appending over a cut would re-anchor and hide it.
        if (problem) this.insertRow('controller', TRUNCATED, this.anchor.file, { anchorRows: this.head.rows, anchorHash: this.head.hash, problem });
      }
      return this.insertRow(actor, action, subject, details);
    });
    const row = write();
    this.emit([row]);
    if (this.anchor && !this.db.inTransaction) {
      // After the commit: an anchor ahead of the table would read as a truncation. A crash in
      // between leaves the anchor one row behind, which reconcile() accepts.
      this.head = { rows: row.id, hash: row.hash, updatedMs: row.ts_ms };
      writeAnchor(this.anchor.file, this.head);
      this.anchor.logger.info({ rows: row.id, hash: row.hash, action: row.action }, 'audit head');
    }
    return row;
  }

  /**
   * Appends several rows in one transaction with one anchor write. What a fleet-wide run needs:
   * one row per host, each with its own fsync'd anchor, made 10,000 hosts cost 10,000 fsyncs on
   * the event loop (docs/BENCHMARKS.md, fleet scale). The chain is the same as N appends.
   */
  appendMany(entries: ReadonlyArray<{ actor: string; action: string; subject: string; details: unknown }>): AuditRow[] {
    if (entries.length === 0) return [];
    const write = this.db.transaction(() => {
      if (this.anchor && this.head && this.head.rows > 0) {
        const problem = this.anchorProblem(this.head);
        if (problem) this.insertRow('controller', TRUNCATED, this.anchor.file, { anchorRows: this.head.rows, anchorHash: this.head.hash, problem });
      }
      return entries.map((e) => this.insertRow(e.actor, e.action, e.subject, e.details));
    });
    const rows = write();
    this.emit(rows);
    const last = rows.at(-1)!;
    if (this.anchor && !this.db.inTransaction) {
      this.head = { rows: last.id, hash: last.hash, updatedMs: last.ts_ms };
      writeAnchor(this.anchor.file, this.head);
      this.anchor.logger.info({ rows: last.id, hash: last.hash, action: last.action, appended: rows.length }, 'audit head');
    }
    return rows;
  }

  /** Hears the rows appended here (the control log publishes them; the chain itself stays per controller). */
  onAppend(fn: (rows: readonly AuditRow[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(rows: readonly AuditRow[]): void {
    if (this.applying) return;
    for (const fn of this.listeners) fn(rows);
  }

  /**
   * Rows another controller appended (control log), appended to this controller's own chain
   * with where and when they were first written (`via`, `at` in the details): each chain stays
   * whole, and either controller's audit shows every action.
   */
  applyRemote(origin: string, entries: ReadonlyArray<{ ts_ms: number; actor: string; action: string; subject: string; details: string }>): void {
    if (entries.length === 0) return;
    this.applying = true;
    try {
      this.appendMany(
        entries.map((e) => {
          let d: unknown;
          try {
            d = JSON.parse(e.details);
          } catch {
            d = e.details;
          }
          const extra = { via: origin, at: new Date(e.ts_ms).toISOString() };
          return { actor: e.actor, action: e.action, subject: e.subject, details: d !== null && typeof d === 'object' && !Array.isArray(d) ? { ...d, ...extra } : { value: d, ...extra } };
        }),
      );
    } finally {
      this.applying = false;
    }
  }

  private insertRow(actor: string, action: string, subject: string, details: unknown): AuditRow {
    const last = this.stmts.last.get();
    const row = { id: (last?.id ?? 0) + 1, ts_ms: this.now(), actor, action, subject, details: JSON.stringify(details ?? {}) };
    const prev = last?.hash ?? GENESIS;
    const hash = auditHash(prev, row);
    this.stmts.insert.run(row.id, row.ts_ms, row.actor, row.action, row.subject, row.details, prev, hash);
    return { ...row, prev_hash: prev, hash };
  }

  recent(limit: number): AuditRow[] {
    return this.stmts.list.all(limit);
  }

  /**
   * Walks the chain from the first row and names the first row that does not verify; then
   * checks the table reaches the anchored head (a cut end) and reports truncations found
   * earlier (kept in the chain as `audit.truncated` rows).
   */
  verify(): VerifyResult {
    const chain = this.verifyChain();
    if (!chain.ok || !this.anchor) return chain;
    const warnings: string[] = [];
    let head: AuditHead | undefined;
    try {
      head = readAnchor(this.anchor.file);
    } catch (err) {
      return { ok: false, rows: chain.rows, badRow: chain.rows + 1, reason: (err as Error).message };
    }
    if (!head) return { ok: false, rows: chain.rows, badRow: chain.rows + 1, reason: `the audit anchor ${this.anchor.file} is missing: rows cut from the end cannot be ruled out` };
    const problem = this.anchorProblem(head);
    if (problem) return { ok: false, rows: chain.rows, badRow: Math.min(chain.rows + 1, head.rows), reason: problem, anchor: head };
    for (const r of this.stmts.evidence.all(TRUNCATED, ANCHOR_MISSING)) {
      if (r.action === TRUNCATED) {
        const d = JSON.parse(r.details) as { problem?: string };
        return { ok: false, rows: chain.rows, badRow: r.id, reason: `the log was cut before row ${r.id} (found ${new Date(r.ts_ms).toISOString()}: ${d.problem ?? 'anchor mismatch'})`, anchor: head };
      }
      warnings.push(`row ${r.id}: the anchor was missing at ${new Date(r.ts_ms).toISOString()}; rows cut before it cannot be detected`);
    }
    return { ok: true, rows: chain.rows, anchor: head, ...(warnings.length ? { warnings } : {}) };
  }

  private verifyChain(): VerifyResult {
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
