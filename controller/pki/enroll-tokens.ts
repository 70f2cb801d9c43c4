import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { OpsError } from '../../shared/errors.js';
import { hashSecret, secretMatches } from '../auth/token-secret.js';
import { checkTokenName } from '../auth/token-store.js';

/**
 * Enrollment secrets look like `opsfe_<id>_<43 base64url chars>`: a prefix apart from operator
 * tokens (`opsf_`) so neither can be mistaken for the other, by people or by scanners.
 */
const PREFIX = 'opsfe_';
const SHAPE = /^opsfe_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** An enrollment token's row as it travels between controllers (control log): the hash, never the secret. */
export interface EnrollTokenRow {
  id: string;
  name: string;
  hash: string;
  tags: string;
  approve: string;
  max_uses: number;
  uses: number;
  created_by: string;
  created_ms: number;
  expires_ms: number;
  revoked_ms: number | null;
  last_used_ms: number | null;
}
type Row = EnrollTokenRow;

export type Approval = 'auto' | 'manual';

export interface EnrollTokenView {
  name: string;
  kind: 'enroll';
  tags: Record<string, string>;
  approve: Approval;
  uses: number;
  maxUses: number;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  state: 'active' | 'expired' | 'used-up' | 'revoked';
}

export interface NewEnrollToken {
  name?: string | undefined;
  tags: Record<string, string>;
  ttlMs: number;
  uses: number;
  approve: Approval;
}

/** What a presented enrollment secret allows (after one use was taken from it). */
export interface TokenGrant {
  name: string;
  tags: Record<string, string>;
  approve: Approval;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Enrollment tokens: hashed at rest; expiry, revocation and the use limit checked in one UPDATE. */
export class EnrollTokens {
  private readonly stmts;
  private readonly listeners = new Set<(row: EnrollTokenRow) => void>();

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    this.stmts = {
      byId: db.prepare<[string], Row>('SELECT * FROM enroll_tokens WHERE id = ?'),
      byName: db.prepare<[string], Row>('SELECT * FROM enroll_tokens WHERE name = ?'),
      all: db.prepare<[], Row>('SELECT * FROM enroll_tokens ORDER BY created_ms, name'),
      insert: db.prepare('INSERT INTO enroll_tokens (id, name, hash, tags, approve, max_uses, created_by, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      revoke: db.prepare('UPDATE enroll_tokens SET revoked_ms = ? WHERE name = ? AND revoked_ms IS NULL'),
      apply: db.prepare(
        `INSERT INTO enroll_tokens (id, name, hash, tags, approve, max_uses, uses, created_by, created_ms, expires_ms, revoked_ms, last_used_ms)
         VALUES (@id, @name, @hash, @tags, @approve, @max_uses, @uses, @created_by, @created_ms, @expires_ms, @revoked_ms, @last_used_ms)
         ON CONFLICT (id) DO UPDATE SET uses = max(uses, excluded.uses), revoked_ms = coalesce(revoked_ms, excluded.revoked_ms),
           last_used_ms = max(coalesce(last_used_ms, 0), coalesce(excluded.last_used_ms, 0))`,
      ),
      take: db.prepare('UPDATE enroll_tokens SET uses = uses + 1, last_used_ms = ? WHERE id = ? AND revoked_ms IS NULL AND expires_ms > ? AND uses < max_uses'),
    };
  }

  create(t: NewEnrollToken, createdBy: string): { secret: string; token: EnrollTokenView } {
    const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12).padEnd(12, '0');
    const name = t.name ?? `enroll-${id.slice(0, 8)}`;
    checkTokenName(name);
    if (!Number.isInteger(t.uses) || t.uses < 1) throw new OpsError('OPS_ERR_TOKEN_INVALID', `uses: expected a whole number >= 1, got ${String(t.uses)}`);
    if (this.stmts.byName.get(name)) throw new OpsError('OPS_ERR_TOKEN_EXISTS', `an enrollment token named "${name}" exists (revoked names stay taken so the audit log stays unambiguous)`);
    const secret = `${PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
    const created = this.now();
    this.stmts.insert.run(id, name, hashSecret(secret), JSON.stringify(t.tags), t.approve, t.uses, createdBy, created, created + t.ttlMs);
    const row = this.stmts.byId.get(id)!;
    this.emit(row);
    return { secret, token: this.view(row) };
  }

  /** Hears the row of every token created, revoked or used here (the control log publishes them). */
  onChange(fn: (row: EnrollTokenRow) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(row: EnrollTokenRow): void {
    for (const fn of this.listeners) fn(row);
  }

  /** Tells the listeners about a token's row as it is now (Enrollment: after the transaction that took a use commits). */
  changed(id: string): void {
    const row = this.stmts.byId.get(id);
    if (row) this.emit(row);
  }

  /**
   * A token's row from another controller (control log). Merged, never rolled back: uses only
   * grow, a revocation stays, so records applied late or twice change nothing. A different token
   * holding the name here is refused.
   */
  applyRow(r: EnrollTokenRow): void {
    const other = this.stmts.byName.get(r.name);
    if (other && other.id !== r.id) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `enroll-token: a different enrollment token named "${r.name}" exists on this controller`);
    this.stmts.apply.run(r);
  }

  list(): EnrollTokenView[] {
    return this.stmts.all.all().map((r) => this.view(r));
  }

  revoke(name: string): boolean {
    if (this.stmts.revoke.run(this.now(), name).changes === 0) return false;
    this.emit(this.stmts.byName.get(name)!);
    return true;
  }

  /** The token a secret stands for, whatever its state (a pending host polls with it after it ran out). */
  identify(secret: string): Row {
    const id = SHAPE.exec(secret)?.[1];
    const row = id ? this.stmts.byId.get(id) : undefined;
    if (!row || !secretMatches(secret, row.hash)) throw new OpsError('OPS_ERR_ENROLL_TOKEN_INVALID', 'the enrollment token is not known to this controller (mistyped, or made for another controller)');
    return row;
  }

  /**
   * Takes one use of a token, or says precisely why not. Call inside the transaction that records
   * the host, so a refused enrollment never spends a use and two hosts never share the last one.
   */
  take(secret: string): TokenGrant {
    const row = this.identify(secret);
    const now = this.now();
    if (this.stmts.take.run(now, row.id, now).changes === 0) {
      if (row.revoked_ms !== null) throw new OpsError('OPS_ERR_ENROLL_TOKEN_REVOKED', `enrollment token "${row.name}" was revoked at ${iso(row.revoked_ms)}`);
      if (row.expires_ms <= now) throw new OpsError('OPS_ERR_ENROLL_TOKEN_EXPIRED', `enrollment token "${row.name}" expired at ${iso(row.expires_ms)}: create a new one with opsctl tokens create --enroll`);
      throw new OpsError('OPS_ERR_ENROLL_TOKEN_USED_UP', `enrollment token "${row.name}" is used up (${row.max_uses} of ${row.max_uses} hosts enrolled): create a new one with opsctl tokens create --enroll --uses N`);
    }
    return this.grant(row);
  }

  grant(row: Row): TokenGrant {
    return { name: row.name, tags: JSON.parse(row.tags) as Record<string, string>, approve: row.approve as Approval };
  }

  private view(r: Row): EnrollTokenView {
    const now = this.now();
    return {
      name: r.name,
      kind: 'enroll',
      tags: JSON.parse(r.tags) as Record<string, string>,
      approve: r.approve as Approval,
      uses: r.uses,
      maxUses: r.max_uses,
      createdBy: r.created_by,
      createdAt: new Date(r.created_ms).toISOString(),
      expiresAt: new Date(r.expires_ms).toISOString(),
      revokedAt: iso(r.revoked_ms),
      lastUsedAt: iso(r.last_used_ms),
      state: r.revoked_ms !== null ? 'revoked' : r.expires_ms <= now ? 'expired' : r.uses >= r.max_uses ? 'used-up' : 'active',
    };
  }
}
