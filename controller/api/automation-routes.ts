import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import type { Automation } from '../automation/automation.js';
import { HttpError, type HttpServer, type RequestContext } from './http-server.js';

const pauseBody = z.object({ policy: z.string().min(1).max(200).optional() }).strict();
/** `force`: accept files that lost all their entries (a file emptied mid-write is otherwise kept as it was). */
const reloadBody = z.object({ force: z.boolean().optional() }).strict();

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/** Tasks, policies and remediations. */
export function registerAutomationRoutes(http: HttpServer, a: Automation, audit: AuditLog): void {
  http.route('GET', '/api/v1/tasks', () => {
    const sched = new Map(a.scheduler.tasks().map((t) => [t.task.name, t]));
    return a.taskList().map((t) => {
      const st = a.tasks.state(t.name, Date.now());
      const s = sched.get(t.name);
      return {
        name: t.name,
        description: t.description,
        schedule: t.schedule,
        timezone: t.timezone ?? null,
        target: t.target,
        playbook: t.playbook,
        enabled: t.enabled,
        overlap: t.overlap,
        file: t.file,
        nextRun: iso(s?.nextRunMs),
        running: s?.running ?? 0,
        last: st.last_run_id || st.last_status ? { runId: st.last_run_id, status: st.last_status, startedAt: iso(st.last_started_ms), endedAt: iso(st.last_ended_ms) } : null,
      };
    });
  });

  // The task set in effect (HA: the fleet's, docs/scaling.md): its hash, whose load it was, and
  // whether this controller's tasks_dir differs from it.
  http.route('GET', '/api/v1/tasks/set', () => {
    const s = a.taskSetStatus();
    if (!s) throw new HttpError(404, 'OPS_ERR_TASK_NOT_FOUND', 'no task set loaded yet');
    return s;
  });

  http.route(
    'POST',
    '/api/v1/tasks/reload',
    ({ body, principal }) => {
      const r = a.reload({ force: body.force === true });
      audit.append(principal.name, 'tasks.reload', 'tasks_dir', r.ok ? { ok: true, force: body.force === true } : { ok: false, problems: r.problems.slice(0, 20) });
      if (!r.ok) throw new HttpError(400, 'OPS_ERR_CONFIG_INVALID', `tasks_dir rejected; running set kept:\n${r.problems.join('\n')}`);
      return r;
    },
    { body: reloadBody },
  );

  http.route('POST', '/api/v1/tasks/:name/run', ({ params, principal }) => {
    if (!a.scheduler.has(params.name!)) throw new HttpError(404, 'OPS_ERR_TASK_NOT_FOUND', `no task "${params.name}"`);
    const r = a.scheduler.runNow(params.name!);
    audit.append(principal.name, 'task.run', params.name!, { started: r.started, ...(r.reason ? { reason: r.reason } : {}) });
    if (!r.started) throw new HttpError(409, 'OPS_ERR_TASK_RUNNING', r.reason ?? 'not started');
    return { started: true, task: params.name };
  });

  http.route('GET', '/api/v1/tasks/:name/history', ({ params, query }) => {
    if (!a.scheduler.has(params.name!)) throw new HttpError(404, 'OPS_ERR_TASK_NOT_FOUND', `no task "${params.name}"`);
    const limit = Math.min(Number(query.get('limit') ?? 50) || 50, 1000);
    return a.tasks.history(params.name!, limit).map((r) => ({ id: r.id, slot: iso(r.slot_ms), trigger: r.trigger, runId: r.run_id, status: r.status, reason: r.reason, startedAt: iso(r.started_ms), endedAt: iso(r.ended_ms) }));
  });

  http.route('GET', '/api/v1/policies', () => ({
    paused: a.remediations.paused('*'),
    policies: a.policyList().map((p) => ({ name: p.name, when: p.when, for: p.for, playbook: p.run.playbook, on: p.run.on, maxAttempts: p.max_attempts, dryRun: p.dry_run, enabled: p.enabled, paused: a.remediations.paused(p.name), file: p.file })),
  }));

  const pause = (paused: boolean) => ({ body, principal }: RequestContext<z.output<typeof pauseBody>>) => {
    const scope = body.policy ?? '*';
    if (scope !== '*' && !a.policyList().some((p) => p.name === scope)) throw new HttpError(404, 'OPS_ERR_POLICY_NOT_FOUND', `no policy "${scope}"`);
    a.remediations.setPaused(scope, paused);
    audit.append(principal.name, paused ? 'policy.pause' : 'policy.resume', scope, {});
    return { scope, paused };
  };
  http.route('POST', '/api/v1/policies/pause', pause(true), { body: pauseBody });
  http.route('POST', '/api/v1/policies/resume', pause(false), { body: pauseBody });

  http.route('GET', '/api/v1/remediations', ({ query }) =>
    a.remediations.list(query.get('policy') ?? '', Math.min(Number(query.get('limit') ?? 100) || 100, 10_000)).map((r) => ({ ...r, startedAt: iso(r.started_ms), endedAt: iso(r.ended_ms) })),
  );
}
