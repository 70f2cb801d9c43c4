import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Principal } from './principal.js';
import type { Role } from './roles.js';

/** A browser session of the dashboard: the token's identity, a CSRF secret, an expiry. */
export interface Session {
  /** The cookie value. Only its SHA-256 is stored; the id itself exists in the browser and here. */
  id: string;
  /** The token the session was opened with (re-checked on every request: a revocation ends it). */
  principal: Principal;
  /** Sent back by the page in `x-opsfleet-csrf` on every mutation (the cookie alone is not enough). */
  csrf: string;
  createdMs: number;
  expiresMs: number;
}

interface Ticket {
  principal: Principal;
  expiresMs: number;
}

interface SessionRow {
  id_hash: string;
  token_name: string;
  role: string;
  playbooks: string | null;
  target: string | null;
  token_expires_ms: number | null;
  csrf: string;
  created_ms: number;
  expires_ms: number;
  last_seen_ms: number;
}

export const SESSION_COOKIE = 'opsf_session';
export const CSRF_HEADER = 'x-opsfleet-csrf';
/** A login URL printed by `opsctl dashboard` is good for one use within this long. */
export const TICKET_TTL_MS = 60_000;
/** A session lasts a working day at most (less when its token expires sooner). */
export const SESSION_TTL_MS = 12 * 3_600_000;
/** Bounds the table against a client that logs in in a loop: the oldest sessions go first. */
export const MAX_SESSIONS = 10_000;
const MAX_TICKETS = 10_000;
/** last_seen is informational: written at most this often per session so a page's reads stay reads. */
const LAST_SEEN_EVERY_MS = 60_000;

const secret = () => randomBytes(32).toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Login tickets (in memory) and browser sessions (in the controller database, table
 * `dashboard_sessions`), so a controller restart or upgrade does not log every browser out.
 * A session row holds the SHA-256 of the cookie's id, never the id: a copy of the database or a
 * backup opens no session. Tickets stay in memory on purpose: they live a minute and are used
 * once, so losing them in a restart costs one more `opsctl dashboard`.
 */
export class SessionStore {
  private readonly tickets = new Map<string, Ticket>();
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    this.stmts = {
      get: db.prepare<[string], SessionRow>('SELECT * FROM dashboard_sessions WHERE id_hash = ?'),
      insert: db.prepare('INSERT INTO dashboard_sessions (id_hash, token_name, role, playbooks, target, token_expires_ms, csrf, created_ms, expires_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      seen: db.prepare('UPDATE dashboard_sessions SET last_seen_ms = ? WHERE id_hash = ?'),
      close: db.prepare('DELETE FROM dashboard_sessions WHERE id_hash = ?'),
      closeToken: db.prepare('DELETE FROM dashboard_sessions WHERE token_name = ?'),
      prune: db.prepare('DELETE FROM dashboard_sessions WHERE expires_ms <= ?'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM dashboard_sessions'),
      // Over the bound: drop the oldest (created first) so the newest logins keep working.
      trim: db.prepare('DELETE FROM dashboard_sessions WHERE id_hash IN (SELECT id_hash FROM dashboard_sessions ORDER BY created_ms LIMIT ?)'),
    };
    this.prune();
  }

  /** A one-time ticket standing for `principal`, good for TICKET_TTL_MS. */
  issueTicket(principal: Principal): { ticket: string; expiresMs: number } {
    this.sweepTickets();
    while (this.tickets.size >= MAX_TICKETS) this.tickets.delete(this.tickets.keys().next().value!);
    const ticket = secret();
    const expiresMs = this.now() + TICKET_TTL_MS;
    this.tickets.set(ticket, { principal, expiresMs });
    return { ticket, expiresMs };
  }

  /** Consumes a ticket (valid or not, it is gone after this call); undefined when unknown or expired. */
  redeemTicket(ticket: string): Principal | undefined {
    const t = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    if (!t || t.expiresMs <= this.now()) return undefined;
    return t.principal;
  }

  open(principal: Principal): Session {
    this.prune();
    const n = this.stmts.count.get()!.n;
    if (n >= MAX_SESSIONS) this.stmts.trim.run(n - MAX_SESSIONS + 1);
    const now = this.now();
    const tokenEnd = principal.expiresMs ?? Number.POSITIVE_INFINITY;
    const s: Session = { id: secret(), principal, csrf: secret(), createdMs: now, expiresMs: Math.min(now + SESSION_TTL_MS, tokenEnd) };
    const p = principal;
    this.stmts.insert.run(sha256(s.id), p.name, p.role, p.playbooks ? JSON.stringify(p.playbooks) : null, p.target ?? null, p.expiresMs ?? null, s.csrf, now, s.expiresMs, now);
    return s;
  }

  get(id: string): Session | undefined {
    const key = sha256(id);
    const r = this.stmts.get.get(key);
    if (!r) return undefined;
    const now = this.now();
    if (r.expires_ms <= now) {
      this.stmts.close.run(key);
      return undefined;
    }
    if (now - r.last_seen_ms >= LAST_SEEN_EVERY_MS) this.stmts.seen.run(now, key);
    const principal: Principal = {
      name: r.token_name,
      role: r.role as Role,
      ...(r.playbooks ? { playbooks: JSON.parse(r.playbooks) as string[] } : {}),
      ...(r.target ? { target: r.target } : {}),
      expiresMs: r.token_expires_ms,
    };
    return { id, principal, csrf: r.csrf, createdMs: r.created_ms, expiresMs: r.expires_ms };
  }

  close(id: string): void {
    this.stmts.close.run(sha256(id));
  }

  /** Ends every session opened with the token `name` (its revocation); returns how many. */
  closeForToken(name: string): number {
    return this.stmts.closeToken.run(name).changes;
  }

  /** Deletes expired sessions; returns how many (also run at each login and at start). */
  prune(): number {
    return this.stmts.prune.run(this.now()).changes;
  }

  /** Constant-time comparison of the page's CSRF header with the session's secret. */
  static csrfMatches(s: Session, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = Buffer.from(s.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private sweepTickets(): void {
    const now = this.now();
    for (const [k, t] of this.tickets) if (t.expiresMs <= now) this.tickets.delete(k);
  }
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
