import { Cron } from 'croner';
import { z } from 'zod';
import { duration } from './common.js';

/** What task files may refer to: checked at load so a typo is a FILE:LINE:COL error, not a 2 a.m. surprise. */
export interface TaskRefs {
  playbooks: readonly string[];
  receivers: readonly string[];
  /** Validates a target expression; returns an error message or undefined. */
  checkTarget: (expr: string) => string | undefined;
}

const NAME = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'names: letters, digits, "_", "-", "."');

function notifyList(refs: TaskRefs) {
  return z
    .object({ notify: z.array(z.string()).prefault([]) })
    .strict()
    .superRefine((n, ctx) => {
      n.notify.forEach((r, i) => {
        if (!refs.receivers.includes(r)) ctx.addIssue({ code: 'custom', path: ['notify', i], message: `unknown receiver "${r}" (defined: ${refs.receivers.join(', ') || 'none'})` });
      });
    });
}

function checkPlaybook(refs: TaskRefs, name: string, ctx: z.RefinementCtx, path: Array<string | number>): void {
  if (!refs.playbooks.includes(name)) ctx.addIssue({ code: 'custom', path, message: `unknown playbook "${name}" (configured: ${refs.playbooks.join(', ') || 'none'})` });
}

function checkTarget(refs: TaskRefs, expr: string, ctx: z.RefinementCtx, path: Array<string | number>): void {
  const err = refs.checkTarget(expr);
  if (err) ctx.addIssue({ code: 'custom', path, message: err });
}

/** The schema of one file in tasks_dir (`tasks:` and `policies:`), bound to what the controller knows. */
export function tasksFileSchema(refs: TaskRefs) {
  const task = z
    .object({
      name: NAME,
      description: z.string().prefault(''),
      // Cron with an optional seconds field: "0 2 * * *", "0 9 * * MON", every 30 s: "*/30 * * * * *".
      schedule: z.string(),
      timezone: z.string().optional(),
      target: z.string(),
      playbook: z.string(),
      concurrency: z.number().int().min(1).optional(),
      timeout: duration({ min: 1 }).optional(),
      overlap: z.enum(['skip', 'queue', 'allow']).prefault('skip'),
      /** Hosts start at a random moment within this window. */
      jitter: duration().prefault('0s'),
      /** A run missed while the controller was down runs once on start when it is this recent. */
      catch_up: duration().optional(),
      enabled: z.boolean().prefault(true),
      on_failure: notifyList(refs).prefault({}),
      on_success: notifyList(refs).prefault({}),
      report: notifyList(refs).prefault({}),
    })
    .strict()
    .superRefine((t, ctx) => {
      try {
        new Cron(t.schedule, { paused: true, ...(t.timezone ? { timezone: t.timezone } : {}) });
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['schedule'], message: `invalid cron "${t.schedule}": ${(err as Error).message.replace(/^CronPattern: /, '')}` });
      }
      checkPlaybook(refs, t.playbook, ctx, ['playbook']);
      checkTarget(refs, t.target, ctx, ['target']);
    });

  const policy = z
    .object({
      name: NAME,
      description: z.string().prefault(''),
      /** Label matchers on a firing alert: exact values, or "~regex". */
      when: z.record(z.string(), z.string()).refine((w) => Object.keys(w).length > 0, 'when needs at least one label matcher'),
      for: duration().prefault('0s'),
      run: z
        .object({
          playbook: z.string(),
          /** alert_host, or a target expression. */
          on: z.string().prefault('alert_host'),
        })
        .strict(),
      verify: z.object({ alert_resolves_within: duration({ min: 1 }).prefault('5m') }).strict().prefault({}),
      max_attempts: z.number().int().min(1).max(20).prefault(1),
      cooldown: duration().prefault('30m'),
      escalate: notifyList(refs).prefault({}),
      /** Record what would be done, dispatch nothing. */
      dry_run: z.boolean().prefault(false),
      /** Remediations of this policy across the fleet per minute. */
      max_per_minute: z.number().int().min(1).prefault(5),
      enabled: z.boolean().prefault(true),
    })
    .strict()
    .superRefine((p, ctx) => {
      checkPlaybook(refs, p.run.playbook, ctx, ['run', 'playbook']);
      if (p.run.on !== 'alert_host') checkTarget(refs, p.run.on, ctx, ['run', 'on']);
      for (const [k, v] of Object.entries(p.when)) {
        if (v.startsWith('~')) {
          try {
            new RegExp(`^(?:${v.slice(1)})$`);
          } catch (err) {
            ctx.addIssue({ code: 'custom', path: ['when', k], message: `invalid regex: ${(err as Error).message}` });
          }
        }
      }
    });

  return z
    .object({
      tasks: z.array(task).prefault([]),
      policies: z.array(policy).prefault([]),
    })
    .strict();
}

export type TasksFile = z.output<ReturnType<typeof tasksFileSchema>>;
export type TaskConfig = TasksFile['tasks'][number];
export type PolicyConfig = TasksFile['policies'][number];
