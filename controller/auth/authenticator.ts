import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../shared/logger.js';
import { AuthError } from './auth-error.js';
import { FailureLimiter } from './failure-limiter.js';
import type { Principal } from './principal.js';
import { roleAllows, ROUTE_POLICIES, type RoutePolicy } from './roles.js';
import { cookieValue, CSRF_HEADER, SESSION_COOKIE, SessionStore, type Session } from './sessions.js';
import type { TokenStore } from './token-store.js';

export interface AuthConfig {
  enabled: boolean;
  /** `open`: /metrics needs no token (scrapers); `token`: viewer or above. */
  metrics: 'open' | 'token';
  max_failures: number;
  failure_window: number;
}

/** The principal of requests when `http.auth.enabled` is false (benchmarks, closed labs). */
export const ANONYMOUS_ADMIN: Principal = Object.freeze({ name: 'anonymous', role: 'admin' });
const OPEN: Principal = Object.freeze({ name: 'anonymous', role: 'viewer' });

/**
 * Decides every request: the route's policy from ROUTE_POLICIES, the bearer token from the
 * store, and the failed-attempt limit per source address. Throws HttpError 401/403/429 with an
 * OPS_ERR_AUTH_* code; never says whether a token exists beyond what its owner could know.
 */
export class Authenticator {
  private readonly limiter: FailureLimiter;
  /**
   * Refused enrollments and renewals (open routes marked `limited`), per address. Its own
   * bucket with the same numbers: a host retrying with a spent enrollment token must not lock
   * the operator on the same address out of the API, nor the reverse.
   */
  private readonly openLimiter: FailureLimiter;
  private readonly log: Logger;
  /** Refusals by reason, for /metrics. */
  readonly refused = { missing: 0, malformed: 0, unknown: 0, expired: 0, revoked: 0, forbidden: 0, rate_limited: 0, csrf: 0 };

  constructor(
    private readonly cfg: AuthConfig,
    private readonly tokens: TokenStore,
    logger: Logger,
    /** Dashboard sessions: a request without Authorization may carry the session cookie instead. */
    readonly sessions: SessionStore,
  ) {
    this.limiter = new FailureLimiter(cfg.max_failures, cfg.failure_window);
    this.openLimiter = new FailureLimiter(cfg.max_failures, cfg.failure_window);
    this.log = logger.child({ component: 'api.auth' });
  }

  /** Throws unless the route is in ROUTE_POLICIES (called when a route is registered). */
  policy(key: string): RoutePolicy {
    const p = ROUTE_POLICIES[key];
    if (!p) throw new Error(`route ${key} has no entry in ROUTE_POLICIES (controller/auth/roles.ts)`);
    return p;
  }

  check(req: IncomingMessage, key: string): Principal {
    const p = this.policy(key);
    if (p.limited) this.checkOpenLimit(req.socket.remoteAddress ?? 'unknown', key);
    if (p.need === 'open' || (p.metrics && this.cfg.metrics === 'open')) return OPEN;
    if (!this.cfg.enabled) return ANONYMOUS_ADMIN;
    const addr = req.socket.remoteAddress ?? 'unknown';
    const wait = this.limiter.blockedFor(addr);
    if (wait > 0) {
      this.refused.rate_limited++;
      throw new AuthError(429, 'OPS_ERR_AUTH_RATE_LIMITED', `too many failed authentications from ${addr}; retry in ${Math.ceil(wait / 1000)}s`, { 'retry-after': String(Math.ceil(wait / 1000)) });
    }
    const header = req.headers.authorization;
    const sessionId = header === undefined ? cookieValue(req.headers.cookie, SESSION_COOKIE) : undefined;
    if (sessionId !== undefined) return this.checkSession(req, key, p, addr, sessionId);
    const m = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!m) {
      this.fail(addr, header === undefined ? 'missing' : 'malformed', key);
      throw new AuthError(401, 'OPS_ERR_AUTH_REQUIRED', header === undefined ? 'this route needs an API token (Authorization: Bearer opsf_...; opsctl: --token, OPSFLEET_TOKEN or opsctl login)' : 'the Authorization header is not "Bearer <token>"', { 'www-authenticate': 'Bearer' });
    }
    const r = this.tokens.authenticate(m[1]!);
    if (!r.ok) {
      this.fail(addr, r.why, key, r.name);
      const what = r.why === 'expired' ? `token "${r.name}" has expired` : r.why === 'revoked' ? `token "${r.name}" was revoked` : 'the token is not valid';
      throw new AuthError(401, r.why === 'expired' ? 'OPS_ERR_AUTH_EXPIRED' : r.why === 'revoked' ? 'OPS_ERR_AUTH_REVOKED' : 'OPS_ERR_AUTH_INVALID', what, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    if (!roleAllows(r.principal.role, p)) {
      this.refused.forbidden++;
      this.log.warn({ token: r.principal.name, role: r.principal.role, route: key }, 'request beyond the role refused');
      throw new AuthError(403, 'OPS_ERR_AUTH_FORBIDDEN', `token "${r.principal.name}" (role ${r.principal.role}) may not ${key}: it needs ${p.need}${p.intake ? ' or intake' : ''}`);
    }
    return r.principal;
  }

  /**
   * A `limited` open route refused the credential in its body (an unknown, expired or spent
   * enrollment token, a bad renewal signature): counted against the source address.
   */
  openFailed(req: IncomingMessage, key: string, code: string): void {
    const addr = req.socket.remoteAddress ?? 'unknown';
    this.openLimiter.fail(addr);
    this.log.warn({ addr, route: key, code }, 'enrollment refused');
  }

  /** Enrollment works with auth off too (agents need certificates either way), so this comes first. */
  private checkOpenLimit(addr: string, key: string): void {
    const wait = this.openLimiter.blockedFor(addr);
    if (wait === 0) return;
    this.refused.rate_limited++;
    const s = Math.ceil(wait / 1000);
    throw new AuthError(429, 'OPS_ERR_ENROLL_RATE_LIMITED', `too many refused enrollments or renewals from ${addr} (http.auth.max_failures per failure_window); retry in ${s}s`, { 'retry-after': String(s) });
  }

  /** The session a request's cookie names, if it is open (for the dashboard's own routes). */
  sessionOf(req: IncomingMessage): Session | undefined {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    return id === undefined ? undefined : this.sessions.get(id);
  }

  /** The cookie's session when it is open and its token still active (no failure counted otherwise). */
  activeSession(req: IncomingMessage): Session | undefined {
    const s = this.sessionOf(req);
    if (!s) return undefined;
    const t = this.tokens.get(s.principal.name);
    if (t?.state === 'active') return s;
    this.sessions.close(s.id);
    return undefined;
  }

  /** The dashboard's token login form: the same checks and failure limit as a bearer token. */
  login(addr: string, secret: string): Principal {
    const wait = this.limiter.blockedFor(addr);
    if (wait > 0) {
      this.refused.rate_limited++;
      throw new AuthError(429, 'OPS_ERR_AUTH_RATE_LIMITED', `too many failed authentications from ${addr}; retry in ${Math.ceil(wait / 1000)}s`, { 'retry-after': String(Math.ceil(wait / 1000)) });
    }
    const r = this.tokens.authenticate(secret.trim());
    if (!r.ok) {
      this.fail(addr, r.why, 'dashboard login', r.name);
      throw new AuthError(401, r.why === 'expired' ? 'OPS_ERR_AUTH_EXPIRED' : r.why === 'revoked' ? 'OPS_ERR_AUTH_REVOKED' : 'OPS_ERR_AUTH_INVALID', r.why === 'expired' ? `token "${r.name}" has expired` : r.why === 'revoked' ? `token "${r.name}" was revoked` : 'the token is not valid');
    }
    if (r.principal.role === 'intake') throw new AuthError(403, 'OPS_ERR_AUTH_FORBIDDEN', `token "${r.principal.name}" has role intake, which may only push alerts: the dashboard needs viewer or above`);
    return r.principal;
  }

  /**
   * A browser request: the session cookie (HttpOnly, SameSite=Strict) stands for the token it was
   * opened with, re-checked here so a revoked token ends its sessions at once. Mutations must also
   * carry the session's CSRF secret in a header, which another site's page cannot read or send.
   */
  private checkSession(req: IncomingMessage, key: string, p: RoutePolicy, addr: string, id: string): Principal {
    const s = this.sessions.get(id);
    if (!s) {
      // Not counted against the address: a stale cookie is no guess (session ids are 256 random bits).
      this.refused.expired++;
      throw new AuthError(401, 'OPS_ERR_AUTH_SESSION', 'the dashboard session has expired or was closed: log in again');
    }
    const t = this.tokens.get(s.principal.name);
    if (!t || t.state !== 'active') {
      this.sessions.close(id);
      this.refused[t?.state === 'revoked' ? 'revoked' : 'expired']++;
      throw new AuthError(401, t?.state === 'revoked' ? 'OPS_ERR_AUTH_REVOKED' : 'OPS_ERR_AUTH_EXPIRED', `the session's token "${s.principal.name}" is ${t?.state ?? 'gone'}: log in again`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const h = req.headers[CSRF_HEADER];
      if (!SessionStore.csrfMatches(s, typeof h === 'string' ? h : undefined)) {
        this.refused.csrf++;
        this.log.warn({ addr, route: key, token: s.principal.name }, 'session request without its CSRF header refused');
        throw new AuthError(403, 'OPS_ERR_AUTH_CSRF', `${req.method} with a session cookie needs the ${CSRF_HEADER} header of the session (the dashboard sends it; other sites cannot)`);
      }
    }
    if (!roleAllows(s.principal.role, p)) {
      this.refused.forbidden++;
      throw new AuthError(403, 'OPS_ERR_AUTH_FORBIDDEN', `token "${s.principal.name}" (role ${s.principal.role}) may not ${key}: it needs ${p.need}`);
    }
    return s.principal;
  }

  private fail(addr: string, why: keyof Authenticator['refused'], route: string, name?: string): void {
    this.refused[why]++;
    this.limiter.fail(addr);
    this.log.warn({ addr, why, route, ...(name ? { token: name } : {}) }, 'authentication failed');
  }
}
