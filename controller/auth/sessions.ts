import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from './principal.js';

/** A browser session of the dashboard: the token's identity, a CSRF secret, an expiry. */
export interface Session {
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

export const SESSION_COOKIE = 'opsf_session';
export const CSRF_HEADER = 'x-opsfleet-csrf';
/** A login URL printed by `opsctl dashboard` is good for one use within this long. */
export const TICKET_TTL_MS = 60_000;
/** A session lasts a working day at most (less when its token expires sooner). */
export const SESSION_TTL_MS = 12 * 3_600_000;
/** Bounds memory against a client that logs in in a loop: the oldest sessions go first. */
const MAX_SESSIONS = 10_000;
const MAX_TICKETS = 10_000;

const secret = () => randomBytes(32).toString('base64url');

/**
 * Login tickets and browser sessions, in memory: a controller restart logs every browser out
 * (the operator runs `opsctl dashboard` again), which keeps session secrets off the disk.
 */
export class SessionStore {
  private readonly tickets = new Map<string, Ticket>();
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A one-time ticket standing for `principal`, good for TICKET_TTL_MS. */
  issueTicket(principal: Principal): { ticket: string; expiresMs: number } {
    this.sweep();
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
    this.sweep();
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const now = this.now();
    const tokenEnd = principal.expiresMs ?? Number.POSITIVE_INFINITY;
    const s: Session = { id: secret(), principal, csrf: secret(), createdMs: now, expiresMs: Math.min(now + SESSION_TTL_MS, tokenEnd) };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string): Session | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresMs <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  close(id: string): void {
    this.sessions.delete(id);
  }

  /** Constant-time comparison of the page's CSRF header with the session's secret. */
  static csrfMatches(s: Session, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = Buffer.from(s.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, t] of this.tickets) if (t.expiresMs <= now) this.tickets.delete(k);
    for (const [k, s] of this.sessions) if (s.expiresMs <= now) this.sessions.delete(k);
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
