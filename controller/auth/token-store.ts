import type Database from 'better-sqlite3';
import { OpsError } from '../../shared/errors.js';
import type { Principal } from './principal.js';
import { ROLES, type Role } from './roles.js';
import { hashSecret, newTokenSecret, secretMatches, tokenIdOf } from './token-secret.js';

/** A token as it travels between controllers (control log): the hash, never the secret. */
export interface TokenRecord {
  id: string;
  name: string;
  role: string;
  hash: string;
  playbooks: string | null;
  target: string | null;
  created_by: string;
  created_ms: number;
  expires_ms: number | null;
}

/** A change made through this store (not through apply*), heard after it is written. */
export type TokenChange = { op: 'create'; token: TokenRecord } | { op: 'revoke'; id: string; name: string; revokedMs: number };

/** A stored row: what replicates, plus what stays local to this controller. */
type TokenRow = TokenRecord & { revoked_ms: number | null; last_used_ms: number | null };

/** A token as listed: never the secret, never its hash. */
export interface TokenView {
  name: string;
  role: Role;
  playbooks: string[] | null;
  target: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  state: 'active' | 'expired' | 'revoked';
}

export interface NewToken {
  name: string;
  role: Role;
  ttlMs?: number;
  playbooks?: string[];
  target?: string;
}

/** API and enrollment token names: one rule, one wording, for the API bodies and the stores. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
export const TOKEN_NAME_RULE = 'letters, digits, "_", ".", "@", "-" (at most 64)';

/** Refuses a name outside TOKEN_NAME with OPS_ERR_TOKEN_INVALID. */
export function checkTokenName(name: string): void {
  if (!TOKEN_NAME.test(name)) throw new OpsError('OPS_ERR_TOKEN_INVALID', `name: expected ${TOKEN_NAME_RULE}, got "${name.slice(0, 80)}"`);
}

/** Why a presented secret was refused (all are 401 for the caller; the reason is logged). */
export type TokenRefusal = 'malformed' | 'unknown' | 'expired' | 'revoked';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * API tokens in the controller database. Every request looks its token up here (an indexed
 * primary-key read), so a revocation takes effect on the next request, not after a cache expires.
 */
export class TokenStore {
  private readonly stmts;
  private lastUsedFlush = new Map<string, number>();
  private readonly listeners = new Set<(c: TokenChange) => void>();

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    this.stmts = {
      byId: db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE id = ?'),
      byName: db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE name = ?'),
      all: db.prepare<[], TokenRow>('SELECT * FROM api_tokens ORDER BY created_ms, name'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM api_tokens'),
      insert: db.prepare('INSERT INTO api_tokens (id, name, role, hash, playbooks, target, created_by, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      revoke: db.prepare('UPDATE api_tokens SET revoked_ms = ? WHERE name = ? AND revoked_ms IS NULL'),
      revokeId: db.prepare('UPDATE api_tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL'),
      used: db.prepare('UPDATE api_tokens SET last_used_ms = ? WHERE id = ?'),
    };
  }

  /** Creates a token and returns its secret: the only time the secret exists outside the caller. */
  create(t: NewToken, createdBy: string): { secret: string; token: TokenView } {
    checkTokenName(t.name);
    if (!(ROLES as readonly string[]).includes(t.role)) throw new OpsError('OPS_ERR_TOKEN_INVALID', `role: expected one of ${ROLES.join(', ')}, got "${String(t.role)}"`);
    if (this.stmts.byName.get(t.name)) throw new OpsError('OPS_ERR_TOKEN_EXISTS', `a token named "${t.name}" exists (revoked names stay taken so the audit log stays unambiguous)`);
    const { id, secret } = newTokenSecret();
    const created = this.now();
    this.stmts.insert.run(id, t.name, t.role, hashSecret(secret), t.playbooks ? JSON.stringify(t.playbooks) : null, t.target ?? null, createdBy, created, t.ttlMs ? created + t.ttlMs : null);
    const row = this.stmts.byId.get(id)!;
    this.emit({ op: 'create', token: { id, name: row.name, role: row.role, hash: row.hash, playbooks: row.playbooks, target: row.target, created_by: row.created_by, created_ms: row.created_ms, expires_ms: row.expires_ms } });
    return { secret, token: this.view(row) };
  }

  /** Hears every create and revoke made here (the control log publishes them). */
  onChange(fn: (c: TokenChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(c: TokenChange): void {
    for (const fn of this.listeners) fn(c);
  }

  /**
   * A token another controller created (control log). Idempotent by id; a different token
   * holding the name here (two controllers' own bootstrap "admin") is refused, not overwritten.
   */
  applyCreate(t: TokenRecord): void {
    if (!(ROLES as readonly string[]).includes(t.role)) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `token.create ${t.name}: unknown role "${t.role}"`);
    if (this.stmts.byId.get(t.id)) return;
    const other = this.stmts.byName.get(t.name);
    if (other) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `token.create: a different token named "${t.name}" exists on this controller (id ${other.id}, the record's ${t.id})`);
    this.stmts.insert.run(t.id, t.name, t.role, t.hash, t.playbooks, t.target, t.created_by, t.created_ms, t.expires_ms);
  }

  /** A revocation made on another controller (control log); idempotent. */
  applyRevoke(id: string, revokedMs: number): void {
    this.stmts.revokeId.run(revokedMs, id);
  }

  list(): TokenView[] {
    return this.stmts.all.all().map((r) => this.view(r));
  }

  get(name: string): TokenView | undefined {
    const r = this.stmts.byName.get(name);
    return r ? this.view(r) : undefined;
  }

  /** Revokes by name; false when there is no active token of that name. */
  revoke(name: string): boolean {
    const row = this.stmts.byName.get(name);
    const now = this.now();
    if (!row || this.stmts.revoke.run(now, name).changes === 0) return false;
    this.emit({ op: 'revoke', id: row.id, name, revokedMs: now });
    return true;
  }

  isEmpty(): boolean {
    return this.stmts.count.get()!.n === 0;
  }

  /** The principal a secret stands for, or why it is refused. Constant-time on the secret. */
  authenticate(secret: string): { ok: true; principal: Principal } | { ok: false; why: TokenRefusal; name?: string } {
    const id = tokenIdOf(secret);
    if (!id) return { ok: false, why: 'malformed' };
    const row = this.stmts.byId.get(id);
    if (!row || !secretMatches(secret, row.hash)) return { ok: false, why: 'unknown' };
    const now = this.now();
    if (row.revoked_ms !== null) return { ok: false, why: 'revoked', name: row.name };
    if (row.expires_ms !== null && row.expires_ms <= now) return { ok: false, why: 'expired', name: row.name };
    // last_used is informational: written at most once a minute per token so reads stay reads.
    if (now - (this.lastUsedFlush.get(id) ?? 0) > 60_000) {
      this.lastUsedFlush.set(id, now);
      this.stmts.used.run(now, id);
    }
    return {
      ok: true,
      principal: {
        name: row.name,
        role: row.role as Role,
        ...(row.playbooks ? { playbooks: JSON.parse(row.playbooks) as string[] } : {}),
        ...(row.target ? { target: row.target } : {}),
        expiresMs: row.expires_ms,
      },
    };
  }

  private view(r: TokenRow): TokenView {
    const now = this.now();
    return {
      name: r.name,
      role: r.role as Role,
      playbooks: r.playbooks ? (JSON.parse(r.playbooks) as string[]) : null,
      target: r.target,
      createdBy: r.created_by,
      createdAt: new Date(r.created_ms).toISOString(),
      expiresAt: iso(r.expires_ms),
      revokedAt: iso(r.revoked_ms),
      lastUsedAt: iso(r.last_used_ms),
      state: r.revoked_ms !== null ? 'revoked' : r.expires_ms !== null && r.expires_ms <= now ? 'expired' : 'active',
    };
  }
}
