import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../shared/logger.js';
import { AuthError } from './auth-error.js';
import { FailureLimiter } from './failure-limiter.js';
import type { Principal } from './principal.js';
import { roleAllows, ROUTE_POLICIES, type RoutePolicy } from './roles.js';
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
  private readonly log: Logger;
  /** Refusals by reason, for /metrics. */
  readonly refused = { missing: 0, malformed: 0, unknown: 0, expired: 0, revoked: 0, forbidden: 0, rate_limited: 0 };

  constructor(
    private readonly cfg: AuthConfig,
    private readonly tokens: TokenStore,
    logger: Logger,
  ) {
    this.limiter = new FailureLimiter(cfg.max_failures, cfg.failure_window);
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
    if (p.need === 'open' || (p.metrics && this.cfg.metrics === 'open')) return OPEN;
    if (!this.cfg.enabled) return ANONYMOUS_ADMIN;
    const addr = req.socket.remoteAddress ?? 'unknown';
    const wait = this.limiter.blockedFor(addr);
    if (wait > 0) {
      this.refused.rate_limited++;
      throw new AuthError(429, 'OPS_ERR_AUTH_RATE_LIMITED', `too many failed authentications from ${addr}; retry in ${Math.ceil(wait / 1000)}s`, { 'retry-after': String(Math.ceil(wait / 1000)) });
    }
    const header = req.headers.authorization;
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

  private fail(addr: string, why: keyof Authenticator['refused'], route: string, name?: string): void {
    this.refused[why]++;
    this.limiter.fail(addr);
    this.log.warn({ addr, why, route, ...(name ? { token: name } : {}) }, 'authentication failed');
  }
}
