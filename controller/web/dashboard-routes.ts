import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { compileMatcher, parseMatcher, type CompiledMatcher } from '../../shared/alerts/matchers.js';
import { OpsError } from '../../shared/errors.js';
import type { AlertManager } from '../alerts/alert-manager.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import { SESSION_COOKIE, TICKET_TTL_MS, type Session } from '../auth/sessions.js';
import { HttpError } from '../api/http-error.js';
import type { HttpServer } from '../api/http-server.js';
import { StaticAssets } from './static-assets.js';

export interface DashboardDeps {
  auth: Authenticator;
  alerts: AlertManager;
  audit: AuditLog;
  /** Whether the listener is HTTPS: the cookie is then marked Secure. */
  tls: boolean;
  assets?: StaticAssets;
}

const loginBody = z.object({ token: z.string().min(1).max(500) }).strict();
const previewBody = z.object({ matchers: z.array(z.string().max(1000)).max(50) }).strict();

function sessionCookie(s: Session, tls: boolean): string {
  const maxAge = Math.max(0, Math.floor((s.expiresMs - Date.now()) / 1000));
  return `${SESSION_COOKIE}=${s.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${tls ? '; Secure' : ''}`;
}

const clearCookie = (tls: boolean) => `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${tls ? '; Secure' : ''}`;

const sessionView = (s: Session) => ({ loggedIn: true, name: s.principal.name, role: s.principal.role, csrf: s.csrf, expiresAt: new Date(s.expiresMs).toISOString(), ...(s.principal.target ? { target: s.principal.target } : {}), ...(s.principal.playbooks ? { playbooks: s.principal.playbooks } : {}) });

/** The host part of the login URL: what the caller reached us by (opsctl prints it as is). */
function baseUrl(req: IncomingMessage, tls: boolean): string {
  const host = typeof req.headers.host === 'string' && /^[A-Za-z0-9.:[\]-]+$/.test(req.headers.host) ? req.headers.host : 'localhost';
  return `${tls ? 'https' : 'http'}://${host}`;
}

/**
 * The web dashboard: its static files at `/`, the login by one-time ticket (`opsctl dashboard`)
 * or by token, the session cookie, and the few reads only the pages need (the silence preview).
 * Everything else the pages show comes from the same JSON API opsctl uses.
 */
export function registerWebDashboard(http: HttpServer, d: DashboardDeps): void {
  const assets = d.assets ?? new StaticAssets();
  const { auth, tls } = d;

  http.route('GET', '/', ({ req, res }) => assets.serve(res, 'index.html', req.headers['if-none-match']));
  http.route('GET', '/ui/:file', ({ req, res, params }) => assets.serve(res, params.file!, req.headers['if-none-match']));

  const open = (res: ServerResponse, principal: Principal, how: string): Session => {
    const s = auth.sessions.open(principal);
    res.setHeader('set-cookie', sessionCookie(s, tls));
    d.audit.append(principal.name, 'dashboard.login', principal.name, { how });
    return s;
  };

  // Exchanged for the cookie, then redirected so the ticket leaves the address bar and history.
  http.route('GET', '/login', ({ query, res }) => {
    const ticket = query.get('ticket') ?? '';
    const principal = ticket ? auth.sessions.redeemTicket(ticket) : undefined;
    if (!principal) {
      res.writeHead(303, { location: '/#/login?error=ticket', 'cache-control': 'no-store' }).end();
      return;
    }
    open(res, principal, 'ticket');
    res.writeHead(303, { location: '/#/', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).end();
  });

  http.route(
    'POST',
    '/api/v1/dashboard/login',
    ({ req, res, body }) => {
      const principal = auth.login(req.socket.remoteAddress ?? 'unknown', body.token);
      return sessionView(open(res, principal, 'token'));
    },
    { body: loginBody },
  );

  http.route('POST', '/api/v1/dashboard/logout', ({ req, res }) => {
    const s = auth.sessionOf(req);
    if (s) auth.sessions.close(s.id);
    res.setHeader('set-cookie', clearCookie(tls));
    return { loggedOut: true };
  });

  // Open, and 200 either way: the page asks on every load, and a visitor not yet logged in is
  // no failed authentication (counting it would lock the login form out of the address).
  http.route('GET', '/api/v1/dashboard/session', ({ req }) => {
    const s = auth.activeSession(req);
    return s ? sessionView(s) : { loggedIn: false };
  });

  // `opsctl dashboard`: a login URL for the browser, standing for the caller's own token.
  http.route('POST', '/api/v1/dashboard/tickets', ({ req, principal }) => {
    const t = auth.sessions.issueTicket(principal);
    d.audit.append(principal.name, 'dashboard.ticket', principal.name, { expiresAt: new Date(t.expiresMs).toISOString() });
    return { url: `${baseUrl(req, tls)}/login?ticket=${t.ticket}`, expiresAt: new Date(t.expiresMs).toISOString(), ttlSeconds: TICKET_TTL_MS / 1000 };
  });

  // What a silence with these matchers would silence now: firing alerts whose labels all match.
  http.route(
    'POST',
    '/api/v1/dashboard/silences/preview',
    ({ body }) => {
      let compiled: CompiledMatcher[];
      try {
        compiled = body.matchers.filter((m) => m.trim() !== '').map((m) => compileMatcher(parseMatcher(m)));
      } catch (err) {
        if (err instanceof OpsError) throw new HttpError(400, err.code, err.message);
        throw err;
      }
      if (compiled.length === 0) return { matched: [] };
      const matched = d.alerts.list('firing').filter((a) => compiled.every((m) => m.test(a.labels)));
      return { matched: matched.slice(0, 500).map((a) => ({ fingerprint: a.fingerprint, labels: a.labels, silencedBy: a.silencedBy })), total: matched.length };
    },
    { body: previewBody, bodyCode: 'OPS_ERR_SILENCE_INVALID' },
  );
}
