import type { Command } from 'commander';
import { type ClientOf, print, table } from './format.js';


interface TaskView {
  name: string;
  schedule: string;
  target: string;
  playbook: string;
  enabled: boolean;
  nextRun: string | null;
  running: number;
  last: { runId: string; status: string; startedAt: string | null } | null;
}

interface TaskSetView {
  hash: string;
  source: 'local' | 'replicated';
  origin: string;
  loadedAt: string;
  localHash: string;
  drift: boolean;
  error?: string;
}

/** `opsctl tasks ...` and `opsctl policies ...`. */
export function registerAutomationCommands(program: Command, client: ClientOf): void {
  const tasks = program.command('tasks').description('scheduled tasks (tasks_dir)').option('--json', 'print JSON');
  tasks.action(async (opts: { json?: boolean }, cmd: Command) => {
    const list = await client(cmd).get<TaskView[]>('api/v1/tasks');
    if (opts.json) return print(JSON.stringify(list, null, 2));
    // An older controller has no /tasks/set (404): the list alone. Anything else is an error.
    const set = await client(cmd)
      .get<TaskSetView>('api/v1/tasks/set')
      .catch((err: unknown) => {
        if ((err as { code?: string }).code === 'OPS_ERR_NOT_FOUND') return undefined;
        throw err;
      });
    if (list.length === 0) print('no tasks (set tasks_dir in controller.yaml)');
    else {
      const t = table(['TASK', 'SCHEDULE', 'PLAYBOOK', 'TARGET', 'NEXT RUN', 'LAST', 'RUNNING']);
      for (const x of list) t.push([x.name + (x.enabled ? '' : ' (disabled)'), x.schedule, x.playbook, x.target, x.nextRun ?? '-', x.last ? `${x.last.status} ${x.last.startedAt ?? ''}` : '-', String(x.running)]);
      print(t.toString());
    }
    if (set) {
      print(`task set ${set.hash.slice(0, 12)} (${set.source === 'local' ? 'loaded here' : `from ${set.origin}`}, ${set.loadedAt})`);
      if (set.drift) print(`WARNING this controller's tasks_dir (${set.localHash.slice(0, 12)}) differs from the fleet's task set; it runs the fleet's set. Copy the files over, or send this controller SIGHUP to make its tasks_dir the fleet's set.`);
      if (set.error) print(`ERROR ${set.error}`);
    }
  });
  tasks
    .command('run <name>')
    .description('run a task now, outside its schedule')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await client(cmd).send('POST', `api/v1/tasks/${encodeURIComponent(name)}/run`, {});
      print(`task ${name} started; see: opsctl tasks history ${name}`);
    });
  tasks
    .command('history <name>')
    .description('past runs of a task (runs, skips, missed slots)')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'rows', '20')
    .action(async (name: string, opts: { json?: boolean; limit: string }, cmd: Command) => {
      const rows = await client(cmd).get<Array<{ slot: string; trigger: string; runId: string; status: string; reason: string; startedAt: string | null; endedAt: string | null }>>(
        `api/v1/tasks/${encodeURIComponent(name)}/history?limit=${encodeURIComponent(opts.limit)}`,
      );
      if (opts.json) return print(JSON.stringify(rows, null, 2));
      const t = table(['SLOT', 'TRIGGER', 'STATUS', 'RUN', 'STARTED', 'ENDED', 'REASON']);
      for (const r of rows) t.push([r.slot, r.trigger, r.status, r.runId || '-', r.startedAt ?? '-', r.endedAt ?? '-', r.reason]);
      print(t.toString());
    });
  tasks
    .command('reload')
    .description('re-read tasks_dir (a bad file is rejected and the running set stays; a file that lost all its entries keeps them unless --force)')
    .option('--force', 'accept files that lost all their entries (emptied on purpose)')
    .action(async (o: { force?: boolean }, cmd: Command) => {
      const r = await client(cmd).send<{ tasks: number; policies: number; kept?: Array<{ file: string; tasks: number; policies: number }> }>('POST', 'api/v1/tasks/reload', o.force ? { force: true } : {});
      print(`reloaded: ${r.tasks} task(s), ${r.policies} policy(ies)`);
      for (const k of r.kept ?? []) print(`WARNING ${k.file} lost all its entries: kept its previous ${k.tasks} task(s), ${k.policies} policy(ies); if it was emptied on purpose, run: opsctl tasks reload --force`);
    });

  const policies = program.command('policies').description('self-healing policies').option('--json', 'print JSON');
  policies.action(async (opts: { json?: boolean }, cmd: Command) => {
    const r = await client(cmd).get<{ paused: boolean; policies: Array<{ name: string; when: Record<string, string>; playbook: string; on: string; maxAttempts: number; dryRun: boolean; enabled: boolean; paused: boolean }> }>('api/v1/policies');
    if (opts.json) return print(JSON.stringify(r, null, 2));
    if (r.paused) print('ALL POLICIES PAUSED (opsctl policies resume)');
    const t = table(['POLICY', 'WHEN', 'PLAYBOOK', 'ON', 'ATTEMPTS', 'MODE']);
    for (const p of r.policies) {
      const mode = !p.enabled ? 'disabled' : p.paused ? 'paused' : p.dryRun ? 'dry-run' : 'active';
      t.push([p.name, Object.entries(p.when).map(([k, v]) => `${k}=${v}`).join(','), p.playbook, p.on, String(p.maxAttempts), mode]);
    }
    print(t.toString());
  });
  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    policies
      .command(`${verb} [policy]`)
      .description(paused ? 'kill switch: stop remediating (all policies, or one)' : 'resume remediation (all, or one)')
      .action(async (policy: string | undefined, _o: unknown, cmd: Command) => {
        const r = await client(cmd).send<{ scope: string; paused: boolean }>('POST', `api/v1/policies/${verb}`, policy ? { policy } : {});
        print(`${r.scope === '*' ? 'all policies' : `policy ${r.scope}`} ${r.paused ? 'paused' : 'resumed'}`);
      });
  }
  policies
    .command('history [policy]')
    .description('remediation records: dispatched, verifying, succeeded, escalated, rate_limited, dry_run')
    .option('--json', 'print JSON')
    .action(async (policy: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const rows = await client(cmd).get<Array<{ id: number; policy: string; host: string; attempt: number; status: string; run_id: string; detail: string; startedAt: string }>>(
        `api/v1/remediations${policy ? `?policy=${encodeURIComponent(policy)}` : ''}`,
      );
      if (opts.json) return print(JSON.stringify(rows, null, 2));
      const t = table(['#', 'POLICY', 'HOST', 'ATTEMPT', 'STATUS', 'RUN', 'AT', 'DETAIL']);
      for (const r of rows) t.push([String(r.id), r.policy, r.host, String(r.attempt), r.status, r.run_id || '-', r.startedAt, r.detail]);
      print(t.toString());
    });
}
