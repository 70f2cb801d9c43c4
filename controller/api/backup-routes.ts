import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { OpsError } from '../../shared/errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import { BACKUP_DEADLINES_MS } from '../../shared/backup/action-deadlines.js';
import type { BackupCatalog } from '../backup/catalog.js';
import type { AgentClients } from '../dispatch/agent-clients.js';
import type { HostsStore } from '../store/hosts-store.js';
import { z } from 'zod';
import { requireHostInScope } from '../auth/scope.js';
import { HttpError, type HttpServer, type RequestContext } from './http-server.js';

/** Backup catalog API (v1): snapshots reported by agents and each set's last outcome. */
export function registerBackupRoutes(http: HttpServer, catalog: BackupCatalog): void {
  http.route('GET', '/api/v1/backups', ({ query }) =>
    catalog.list({ host: query.get('host') ?? undefined, set: query.get('set') ?? undefined, includePruned: query.get('all') === 'true' }),
  );
  http.route('GET', '/api/v1/backups/sets', ({ query }) => catalog.sets({ host: query.get('host') ?? undefined, set: query.get('set') ?? undefined }));
}

export interface BackupActionDeps {
  hosts: HostsStore;
  agents: AgentClients;
  audit: AuditLog;
}

/** `actor` is accepted for older clients and ignored: the audit names the token. */
const actionBody = z
  .object({
    actor: z.string().max(200).optional(),
    read_data: z.boolean().optional(),
    snapshot: z.string().max(1024).optional(),
    at_ms: z.number().finite().positive('at_ms: expected epoch milliseconds').nullable().optional(),
    to: z.string().max(4096).optional(),
    path: z.string().max(4096).optional(),
    overwrite: z.string().max(16).optional(),
  })
  .strict();
type ActionBody = z.output<typeof actionBody>;

const HTTP_OF_GRPC: Partial<Record<number, number>> = {
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.FAILED_PRECONDITION]: 409,
  [GrpcStatus.UNIMPLEMENTED]: 501,
};

/** An agent's refusal or failure as an API error carrying the agent's own OpsError code. */
function fromAgent(host: string, err: unknown): unknown {
  if (!(err instanceof OpsError) || err.code === 'OPS_ERR_RPC_UNAVAILABLE') return err;
  const se = err.cause as ServiceError | undefined;
  if (!se || typeof se.code !== 'number') return err;
  const opsCode = se.metadata?.get('ops-code')[0];
  const status = HTTP_OF_GRPC[se.code] ?? 502;
  if (se.code === GrpcStatus.UNIMPLEMENTED) return new HttpError(501, 'OPS_ERR_RPC_FAILED', `host "${host}": ${se.details} (an agent older than this controller?)`);
  return new HttpError(status, typeof opsCode === 'string' ? opsCode : err.code, `host "${host}": ${se.details || se.message}`);
}


/**
 * The operator's backup actions, each forwarded to the agent over gRPC and written to the audit
 * log with its outcome:
 *   POST /api/v1/hosts/:id/backups/:set/now
 *   POST /api/v1/hosts/:id/backups/:set/verify   { read_data }
 *   POST /api/v1/hosts/:id/backups/:set/restore  { to, snapshot?, at_ms?, path?, overwrite? (never|older|always) }
 * The audit names the caller's token (a body's `actor` is ignored). Unknown host → 404 OPS_ERR_HOST_NOT_FOUND; the agent's refusals
 * keep its code (OPS_ERR_BACKUP_NO_SET 404, OPS_ERR_USAGE / OPS_ERR_BACKUP_UNSAFE_PATH 400,
 * OPS_ERR_BACKUP_NOT_RUNNING / OPS_ERR_BACKUP_BUSY 409, other failures 502).
 */
export function registerBackupActionRoutes(http: HttpServer, d: BackupActionDeps): void {
  const action =
    (name: 'now' | 'verify' | 'restore', run: (a: { hostId: string; endpoint: string; tls: boolean; set: string; body: ActionBody; actor: string; signal: AbortSignal }) => Promise<unknown>) =>
    async ({ res, params, body, principal }: RequestContext<ActionBody>) => {
      const h = d.hosts.get(params.id!);
      if (!h) throw new HttpError(404, 'OPS_ERR_HOST_NOT_FOUND', `no host "${params.id}"`);
      requireHostInScope(principal, h);
      if (!h.rpc_endpoint) throw new HttpError(409, 'OPS_ERR_HOST_NO_RPC', `host "${h.id}" announces no RPC endpoint (its config has no rpc section)`);
      const actor = principal.name;
      const set = params.set!;
      const ac = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) ac.abort();
      });
      const subject = `${h.id}/${set}`;
      const asked = name === 'restore' ? { to: body.to, snapshot: body.snapshot, at_ms: body.at_ms, path: body.path, overwrite: body.overwrite ?? 'never' } : name === 'verify' ? { read_data: body.read_data === true } : {};
      try {
        const result = await run({ hostId: h.id, endpoint: h.rpc_endpoint, tls: h.rpc_tls === 1, set, body, actor, signal: ac.signal });
        // A restore that left paths out answered, but did not succeed.
        const ok = !(Number((result as { failed?: unknown }).failed ?? 0) > 0);
        d.audit.append(actor, `backup.${name}`, subject, { ...asked, ok, result });
        return { host: h.id, set, ...(result as object) };
      } catch (err) {
        const e = fromAgent(h.id, err);
        d.audit.append(actor, `backup.${name}`, subject, { ...asked, ok: false, code: (e as OpsError).code ?? 'OPS_ERR_INTERNAL', error: (e as Error).message });
        throw e;
      }
    };

  http.route(
    'POST',
    '/api/v1/hosts/:id/backups/:set/now',
    action('now', (a) => d.agents.backupNow(a.hostId, a.endpoint, a.tls, a.set, BACKUP_DEADLINES_MS.now, a.signal)),
    { body: actionBody, bodyCode: 'OPS_ERR_USAGE' },
  );
  http.route(
    'POST',
    '/api/v1/hosts/:id/backups/:set/verify',
    action('verify', (a) => d.agents.backupVerify(a.hostId, a.endpoint, a.tls, a.set, a.body.read_data === true, BACKUP_DEADLINES_MS.verify, a.signal)),
    { body: actionBody, bodyCode: 'OPS_ERR_USAGE' },
  );
  http.route(
    'POST',
    '/api/v1/hosts/:id/backups/:set/restore',
    action('restore', (a) => {
      const atMs = a.body.at_ms;
      const req = {
        set: a.set,
        to: a.body.to ?? '',
        snapshot: a.body.snapshot ?? '',
        atMs: typeof atMs === 'number' ? Math.trunc(atMs) : 0,
        path: a.body.path ?? '',
        actor: a.actor,
        overwrite: a.body.overwrite ?? '',
      };
      if (req.overwrite && !['never', 'older', 'always'].includes(req.overwrite)) throw new HttpError(400, 'OPS_ERR_USAGE', `overwrite: expected never, older or always, got ${JSON.stringify(req.overwrite)}`);
      return d.agents.backupRestore(a.hostId, a.endpoint, a.tls, req, BACKUP_DEADLINES_MS.restore, a.signal);
    }),
    { body: actionBody, bodyCode: 'OPS_ERR_USAGE' },
  );
}
