/**
 * Who may call which route. The table is THE registry: HttpServer refuses to register a route
 * that has no entry, so a new route cannot be added without deciding who may call it, and
 * docs/api-auth.md is checked against it (test/api/route-table.test.ts).
 */

/** Operator roles, ordered: each includes what the ones before it may do. */
export const OPERATOR_ROLES = ['viewer', 'operator', 'admin'] as const;
/**
 * `intake` is outside the ladder: a machine identity that may only push alerts (room for
 * Alertmanager-compatible intake endpoints).
 */
export const ROLES = [...OPERATOR_ROLES, 'intake'] as const;
export type Role = (typeof ROLES)[number];

/** What a route needs: `open` (no token), the lowest operator role, and whether intake may call it. */
export interface RoutePolicy {
  need: 'open' | (typeof OPERATOR_ROLES)[number];
  intake?: boolean;
  /** `/metrics` follows `http.auth.metrics` (open by default). */
  metrics?: boolean;
  /**
   * An open route whose body carries a credential (an enrollment token, a host's signature):
   * its refusals are counted per source address and the address gets 429 over the limit.
   */
  limited?: boolean;
}

const open: RoutePolicy = { need: 'open' };
const openLimited: RoutePolicy = { need: 'open', limited: true };
const viewer: RoutePolicy = { need: 'viewer' };
const operator: RoutePolicy = { need: 'operator' };
const admin: RoutePolicy = { need: 'admin' };

export const ROUTE_POLICIES: Readonly<Record<string, RoutePolicy>> = Object.freeze({
  'GET /healthz': open,
  // The one-line install: a new host has no credential yet (docs/api-auth.md says why this is safe).
  'GET /install.sh': open,
  'GET /downloads/:file': open,
  'GET /readyz': open,
  'GET /metrics': { need: 'viewer', metrics: true },
  'GET /api/v1/whoami': { need: 'viewer', intake: true },

  // The web dashboard (controller/web/): its files and login are open, the rest is the API's.
  'GET /': open,
  'GET /ui/:file': open,
  'GET /login': open,
  'POST /api/v1/dashboard/login': open,
  'POST /api/v1/dashboard/logout': viewer,
  'GET /api/v1/dashboard/session': open,
  'POST /api/v1/dashboard/tickets': viewer,
  'POST /api/v1/dashboard/silences/preview': viewer,

  'GET /api/v1/hosts': viewer,
  'GET /api/v1/hosts/:id': viewer,
  'GET /api/v1/hosts/:id/status': viewer,
  'GET /api/v1/events': viewer,
  'GET /api/v1/events/rejected': viewer,
  'GET /api/v1/checks': viewer,
  'GET /api/v1/hosts/:id/metrics': viewer,
  'GET /api/v1/hosts/:id/metrics/history': viewer,
  // The web dashboard's reads (controller/api/dashboard-routes.ts, docs/api-dashboard.md).
  'GET /api/v1/fleet': viewer,
  'GET /api/v1/hosts/:id/facts': viewer,
  'POST /api/v1/hosts/:id/facts/refresh': operator,
  'GET /api/v1/hosts/:id/metrics/series': viewer,
  'GET /api/v1/hosts/:id/checks/history': viewer,
  'GET /api/v1/hosts/:id/logs/levels': viewer,
  'GET /api/v1/hosts/:id/timeline': viewer,
  'GET /api/v1/stream': viewer,
  'GET /api/v1/hosts/:id/sweep': operator,
  'POST /api/v1/hosts/:id/checks/:name/reset-restarts': operator,

  'GET /api/v1/alerts': viewer,
  'POST /api/v1/alerts': { need: 'operator', intake: true },
  'GET /api/v1/alerts/stats': viewer,
  'GET /api/v1/alerts/groups': viewer,
  'POST /api/v1/alerts/routes/test': viewer,
  'POST /api/v2/alerts': { need: 'operator', intake: true },
  'POST /api/v1/intake/alertmanager': { need: 'operator', intake: true },
  'POST /api/v1/intake/grafana': { need: 'operator', intake: true },
  'GET /api/v1/alerts/:fp': viewer,
  'GET /api/v1/silences': viewer,
  'POST /api/v1/silences': operator,
  'GET /api/v1/silences/:id': viewer,
  'DELETE /api/v1/silences/:id': operator,
  'GET /api/v1/receivers': viewer,
  'POST /api/v1/receivers/:name/test': operator,
  'POST /api/v1/receivers/:name/preview': viewer,
  'GET /api/v1/notifications': viewer,

  'GET /api/v1/logs/stats': viewer,
  'GET /api/v1/logs/lines': viewer,

  'GET /api/v1/backups': viewer,
  'GET /api/v1/backups/sets': viewer,
  'POST /api/v1/hosts/:id/backups/:set/now': operator,
  'POST /api/v1/hosts/:id/backups/:set/verify': operator,
  'POST /api/v1/hosts/:id/backups/:set/restore': admin,

  // Playbooks with shell (`run`) steps need admin; the run route checks that per playbook.
  'POST /api/v1/runs': operator,
  'POST /api/v1/exec': admin,
  'GET /api/v1/runs': viewer,
  'GET /api/v1/runs/:id': viewer,
  'GET /api/v1/playbooks': viewer,
  'GET /api/v1/audit': viewer,
  'GET /api/v1/audit/verify': viewer,

  'GET /api/v1/tasks': viewer,
  'GET /api/v1/tasks/set': viewer,
  'POST /api/v1/tasks/reload': admin,
  'POST /api/v1/tasks/:name/run': operator,
  'GET /api/v1/tasks/:name/history': viewer,
  'GET /api/v1/policies': viewer,
  'POST /api/v1/policies/pause': admin,
  'POST /api/v1/policies/resume': admin,
  'GET /api/v1/remediations': viewer,

  'GET /api/v1/tokens': admin,
  'POST /api/v1/tokens': admin,
  'DELETE /api/v1/tokens/:name': admin,

  // Enrollment proves itself with the enrollment token or the host's key (controller/pki).
  'POST /api/v1/enroll': openLimited,
  'POST /api/v1/enroll/renew': openLimited,
  'GET /api/v1/enroll-tokens': admin,
  'POST /api/v1/enroll-tokens': admin,
  'DELETE /api/v1/enroll-tokens/:name': admin,
  'GET /api/v1/identities': viewer,
  'POST /api/v1/identities/:id/accept': admin,
  'DELETE /api/v1/identities/:id': admin,
});

export const routeKey = (method: string, path: string): string => `${method} ${path}`;

/** Whether a role satisfies a route's policy (open routes are decided before a token is read). */
export function roleAllows(role: Role, p: RoutePolicy): boolean {
  if (p.need === 'open') return true;
  if (role === 'intake') return p.intake === true;
  return OPERATOR_ROLES.indexOf(role) >= OPERATOR_ROLES.indexOf(p.need);
}
