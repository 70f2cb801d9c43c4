import { z } from 'zod';
import { parseDuration } from '../../shared/duration.js';
import type { AuditLog } from '../audit/audit-log.js';
import { RunRequestError, type RunDispatcher, type RunRequest, type RunStreamEvent } from '../dispatch/run-dispatcher.js';
import type { RunsStore } from '../dispatch/runs-store.js';
import type { PlaybookConfig } from '../../shared/config/playbooks.js';
import type { Principal } from '../auth/principal.js';
import { requirePlaybookAllowed, scopedTarget } from '../auth/scope.js';
import { HttpError, type HttpServer, type RequestContext } from './http-server.js';

const runBody = z
  .object({
    playbook: z.string().min(1).optional(),
    command: z.string().optional(),
    // Length and depth are bounded by compileTarget, which answers OPS_ERR_TARGET_SYNTAX naming the limit.
    target: z.string(),
    concurrency: z.number().int().min(1).max(10_000).optional(),
    batch: z.string().optional(),
    max_fail: z.string().optional(),
    timeout: z.string().optional(),
    /** Accepted from older clients and ignored: the actor is the caller's token. */
    actor: z.string().max(200).optional(),
    dry_run: z.boolean().optional(),
  })
  .strict();

function toRunRequest(b: z.output<typeof runBody>, command: boolean, principal: Principal, playbooks: Readonly<Record<string, PlaybookConfig>>): RunRequest {
  if (command && b.command === undefined) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', 'command is required');
  if (!command && b.playbook === undefined) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', 'playbook is required');
  if (!command) {
    const pb = playbooks[b.playbook!];
    // An unknown playbook is the dispatcher's 404; a known one is checked against the token.
    if (pb) requirePlaybookAllowed(principal, b.playbook!, pb.steps.some((st) => st.run !== undefined));
  }
  let timeoutMs: number | undefined;
  if (b.timeout !== undefined) {
    timeoutMs = parseDuration(b.timeout);
    if (timeoutMs === undefined || timeoutMs <= 0) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `timeout: expected a duration like "30s", got "${b.timeout}"`);
  }
  return {
    ...(command ? { command: b.command } : { playbook: b.playbook }),
    target: scopedTarget(principal, b.target),
    ...(b.concurrency !== undefined ? { concurrency: b.concurrency } : {}),
    ...(b.batch !== undefined ? { batch: b.batch } : {}),
    ...(b.max_fail !== undefined ? { maxFail: b.max_fail } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    actor: principal.name,
    dryRun: b.dry_run ?? false,
  };
}

/** Fleet command endpoints: runs stream as NDJSON; a closed connection cancels the run on every agent. */
export function registerRunRoutes(http: HttpServer, d: { dispatcher: RunDispatcher; runs: RunsStore; audit: AuditLog; playbooks: Readonly<Record<string, PlaybookConfig>> }): void {
  const start = (command: boolean) => async ({ res, body, principal }: RequestContext<z.output<typeof runBody>>) => {
    const request = toRunRequest(body, command, principal, d.playbooks);
    try {
      if (request.dryRun) {
        const plan = d.dispatcher.plan(request);
        return { playbook: plan.playbook, target: request.target, matched: plan.hosts.map((h) => ({ id: h.id, status: h.status })) };
      }
      const ac = new AbortController();
      let streaming = false;
      const emit = (e: RunStreamEvent) => {
        if (!streaming) {
          streaming = true;
          res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache' });
        }
        if (!res.writableEnded) res.write(`${JSON.stringify(e)}\n`);
      };
      res.on('close', () => {
        if (!res.writableFinished) ac.abort();
      });
      await d.dispatcher.execute(request, emit, ac.signal);
      res.end();
      return undefined;
    } catch (err) {
      if (err instanceof RunRequestError) throw new HttpError(err.status, err.code, err.message);
      throw err;
    }
  };
  http.route('POST', '/api/v1/runs', start(false), { body: runBody });
  http.route('POST', '/api/v1/exec', start(true), { body: runBody });

  http.route('GET', '/api/v1/runs', ({ query }) => d.runs.list(Math.min(Number(query.get('limit') ?? 50) || 50, 1000)));
  http.route('GET', '/api/v1/runs/:id', ({ params, query }) => {
    const run = d.runs.get(params.id!);
    if (!run) throw new HttpError(404, 'OPS_ERR_RUN_NOT_FOUND', `no run "${params.id}"`);
    const host = query.get('host');
    return host ? { ...run, hosts: run.hosts.filter((h) => h.hostId === host) } : run;
  });
  http.route('GET', '/api/v1/playbooks', () =>
    Object.entries(d.playbooks).map(([name, pb]) => ({ name, description: pb.description, timeoutMs: pb.timeout, steps: pb.steps.map((s) => s.name ?? s.builtin ?? s.run) })),
  );
  http.route('GET', '/api/v1/audit', ({ query }) => d.audit.recent(Math.min(Number(query.get('limit') ?? 100) || 100, 10_000)).map((r) => ({ ...r, details: JSON.parse(r.details) as unknown })));
  http.route('GET', '/api/v1/audit/verify', () => d.audit.verify());
}
