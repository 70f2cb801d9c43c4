import { z } from 'zod';
import { parseDuration } from '../../shared/duration.js';
import { OpsError } from '../../shared/errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import { ROLES } from '../auth/roles.js';
import type { SessionStore } from '../auth/sessions.js';
import { TOKEN_NAME, TOKEN_NAME_RULE, type TokenStore } from '../auth/token-store.js';
import { compileTarget } from '../dispatch/target.js';
import { HttpError, type HttpServer } from './http-server.js';

const createBody = z
  .object({
    name: z.string().regex(TOKEN_NAME, TOKEN_NAME_RULE),
    role: z.enum(ROLES),
    /** A duration like "90d"; absent: the token does not expire. */
    ttl: z.string().max(32).optional(),
    playbooks: z.array(z.string().min(1).max(200)).min(1).max(200).optional(),
    target: z.string().min(1).optional(),
  })
  .strict();

/**
 * Tokens (admin) and whoami (any token):
 *   GET /api/v1/whoami · GET /api/v1/tokens · POST /api/v1/tokens · DELETE /api/v1/tokens/:name
 * The secret is in the POST answer only; the audit records the token's name and role, never it.
 */
export function registerTokenRoutes(http: HttpServer, d: { tokens: TokenStore; sessions: SessionStore; audit: AuditLog; playbooks: Readonly<Record<string, unknown>> }): void {
  http.route('GET', '/api/v1/whoami', ({ principal }) => ({
    name: principal.name,
    role: principal.role,
    playbooks: principal.playbooks ?? null,
    target: principal.target ?? null,
    expiresAt: principal.expiresMs ? new Date(principal.expiresMs).toISOString() : null,
  }));

  http.route('GET', '/api/v1/tokens', () => d.tokens.list());

  http.route(
    'POST',
    '/api/v1/tokens',
    ({ body, principal }) => {
      let ttlMs: number | undefined;
      if (body.ttl !== undefined) {
        ttlMs = parseDuration(body.ttl);
        if (ttlMs === undefined || ttlMs <= 0) throw new HttpError(400, 'OPS_ERR_TOKEN_INVALID', `ttl: expected a duration like "90d", got "${body.ttl}"`);
      }
      if (body.target !== undefined) {
        try {
          compileTarget(body.target);
        } catch (err) {
          throw new HttpError(400, (err as OpsError).code ?? 'OPS_ERR_TARGET_SYNTAX', (err as Error).message);
        }
      }
      const unknown = (body.playbooks ?? []).filter((p) => !(p in d.playbooks));
      if (unknown.length > 0) throw new HttpError(400, 'OPS_ERR_TOKEN_INVALID', `playbooks: no playbook named ${unknown.map((u) => `"${u}"`).join(', ')}`);
      try {
        const r = d.tokens.create({ name: body.name, role: body.role, ...(ttlMs ? { ttlMs } : {}), ...(body.playbooks ? { playbooks: body.playbooks } : {}), ...(body.target ? { target: body.target } : {}) }, principal.name);
        d.audit.append(principal.name, 'token.create', body.name, { role: body.role, expiresAt: r.token.expiresAt, playbooks: body.playbooks ?? null, target: body.target ?? null });
        return { ...r.token, secret: r.secret };
      } catch (err) {
        if (err instanceof OpsError) throw new HttpError(err.code === 'OPS_ERR_TOKEN_EXISTS' ? 409 : 400, err.code, err.message);
        throw err;
      }
    },
    { body: createBody, bodyCode: 'OPS_ERR_TOKEN_INVALID' },
  );

  http.route('DELETE', '/api/v1/tokens/:name', ({ params, principal }) => {
    if (!d.tokens.revoke(params.name!)) throw new HttpError(404, 'OPS_ERR_TOKEN_NOT_FOUND', `no active token named "${params.name}"`);
    // Every request re-checks the token anyway; deleting the rows now also drops the revoked
    // token's sessions from the database (and from backups taken after this).
    const sessions = d.sessions.closeForToken(params.name!);
    d.audit.append(principal.name, 'token.revoke', params.name!, { sessions });
    return { revoked: params.name };
  });
}
