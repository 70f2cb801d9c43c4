import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { parseDuration } from '../../shared/duration.js';
import { OpsError } from '../../shared/errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Authenticator } from '../auth/authenticator.js';
import { TOKEN_NAME, TOKEN_NAME_RULE } from '../auth/token-store.js';
import { HOST_ID, type Enrollment } from '../pki/enrollment.js';
import { HttpError, type HttpServer } from './http-server.js';

const TAG_NAME = /^[A-Za-z0-9_.-]+$/;
const tags = z.record(z.string().regex(TAG_NAME, 'tag names: letters, digits, "_", "-", "."').max(64), z.string().max(256));
const PEM_LIMIT = 16 * 1024;

const enrollBody = z
  .object({
    token: z.string().min(1).max(200),
    host_id: z.string().regex(HOST_ID, 'letters, digits, "_" and "-", at most 63 characters'),
    csr_pem: z.string().min(1).max(PEM_LIMIT),
    nats_public_key: z.string().regex(/^U[A-Z2-7]{55}$/, 'a NATS user public nkey (U...)').optional(),
    tags: tags.optional(),
    version: z.string().max(64).optional(),
    rpc_endpoint: z.string().max(300).optional(),
  })
  .strict();

const renewBody = z
  .object({
    host_id: z.string().regex(HOST_ID),
    csr_pem: z.string().min(1).max(PEM_LIMIT),
    ts_ms: z.number().int(),
    signature: z.string().min(1).max(512),
    nats_public_key: z.string().regex(/^U[A-Z2-7]{55}$/, 'a NATS user public nkey (U...)').optional(),
  })
  .strict();

const createTokenBody = z
  .object({
    name: z.string().regex(TOKEN_NAME, TOKEN_NAME_RULE).optional(),
    tags: tags.prefault({}),
    /** A duration like "24h" (default 24h): enrollment tokens always expire. */
    ttl: z.string().max(32).prefault('24h'),
    uses: z.number().int().min(1).max(1_000_000).prefault(1),
    approve: z.enum(['auto', 'manual']).prefault('auto'),
  })
  .strict();

/** HTTP status of an enrollment refusal (the code says which, the message what to do). */
const STATUS: Record<string, number> = {
  OPS_ERR_ENROLL_TOKEN_INVALID: 401,
  OPS_ERR_ENROLL_TOKEN_EXPIRED: 401,
  OPS_ERR_ENROLL_TOKEN_REVOKED: 401,
  OPS_ERR_ENROLL_TOKEN_USED_UP: 403,
  OPS_ERR_ENROLL_TAKEOVER: 409,
  OPS_ERR_ENROLL_CSR: 400,
  OPS_ERR_ENROLL_BAD_REQUEST: 400,
  OPS_ERR_ENROLL_PENDING: 409,
  OPS_ERR_RENEW_PROOF: 401,
  OPS_ERR_HOST_REVOKED: 403,
  OPS_ERR_IDENTITY_NOT_FOUND: 404,
  OPS_ERR_IDENTITY_STATE: 409,
  OPS_ERR_TOKEN_INVALID: 400,
  OPS_ERR_TOKEN_EXISTS: 409,
};

/** Refusals of the open routes that do not count as a failed attempt: a poll while pending is the protocol. */
const NOT_A_FAILURE = new Set(['OPS_ERR_ENROLL_PENDING']);

async function mapped<T>(fn: () => Promise<T> | T, failed?: (code: string) => void): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OpsError && STATUS[err.code]) {
      if (failed && !NOT_A_FAILURE.has(err.code)) failed(err.code);
      throw new HttpError(STATUS[err.code]!, err.code, err.message);
    }
    throw err;
  }
}

/**
 * Agent identities:
 *   POST /api/v1/enroll · POST /api/v1/enroll/renew (open: the token or the host key proves who calls)
 *   GET|POST /api/v1/enroll-tokens · DELETE /api/v1/enroll-tokens/:name (admin)
 *   GET /api/v1/identities (viewer) · POST /api/v1/identities/:id/accept · DELETE /api/v1/identities/:id (admin)
 */
export function registerPkiRoutes(http: HttpServer, d: { enrollment: Enrollment; audit: AuditLog; limiter: Pick<Authenticator, 'openFailed'> }): void {
  const e = d.enrollment;
  // Each refusal counts against the caller's address (http.auth.max_failures per failure_window,
  // then 429 OPS_ERR_ENROLL_RATE_LIMITED before the body is looked at): guessing enrollment
  // tokens or flooding the CA with certificate requests costs the caller time.
  const failed = (req: IncomingMessage, key: string) => (code: string) => d.limiter.openFailed(req, key, code);
  http.route('POST', '/api/v1/enroll', ({ req, body, res }) =>
    mapped(async () => {
      const r = await e.enroll(body);
      if (r.status === 'pending') res.statusCode = 202;
      return r;
    }, failed(req, 'POST /api/v1/enroll')),
    { body: enrollBody, bodyCode: 'OPS_ERR_ENROLL_BAD_REQUEST', bodyLimit: 64 * 1024 },
  );

  http.route('POST', '/api/v1/enroll/renew', ({ req, body }) => mapped(() => e.renew(body), failed(req, 'POST /api/v1/enroll/renew')), { body: renewBody, bodyCode: 'OPS_ERR_ENROLL_BAD_REQUEST', bodyLimit: 64 * 1024 });

  http.route('GET', '/api/v1/enroll-tokens', () => e.tokens.list());

  http.route(
    'POST',
    '/api/v1/enroll-tokens',
    ({ body, principal }) =>
      mapped(() => {
        const ttlMs = parseDuration(body.ttl);
        if (ttlMs === undefined || ttlMs <= 0) throw new HttpError(400, 'OPS_ERR_TOKEN_INVALID', `ttl: expected a duration like "24h", got "${body.ttl}"`);
        const r = e.tokens.create({ name: body.name, tags: body.tags, ttlMs, uses: body.uses, approve: body.approve }, principal.name);
        d.audit.append(principal.name, 'token.create', r.token.name, { kind: 'enroll', tags: body.tags, uses: body.uses, approve: body.approve, expiresAt: r.token.expiresAt });
        return { ...r.token, secret: r.secret };
      }),
    { body: createTokenBody, bodyCode: 'OPS_ERR_TOKEN_INVALID' },
  );

  http.route('DELETE', '/api/v1/enroll-tokens/:name', ({ params, principal }) => {
    if (!e.tokens.revoke(params.name!)) throw new HttpError(404, 'OPS_ERR_TOKEN_NOT_FOUND', `no active enrollment token named "${params.name}"`);
    d.audit.append(principal.name, 'token.revoke', params.name!, { kind: 'enroll' });
    return { revoked: params.name };
  });

  http.route('GET', '/api/v1/identities', ({ query }) => {
    const state = query.get('state');
    return e.list().filter((i) => !state || i.state === state);
  });

  http.route('POST', '/api/v1/identities/:id/accept', ({ params, principal }) => mapped(() => e.accept(params.id!, principal.name)));

  http.route('DELETE', '/api/v1/identities/:id', ({ params, principal }) => mapped(() => e.remove(params.id!, principal.name)));
}
