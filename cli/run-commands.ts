import type { Command } from 'commander';
import { OpsError } from '../shared/errors.js';
import type { HostRunRecord, RunRecord, RunStreamEvent } from '../controller/api/wire.js';
import type { ControllerClient } from './client.js';
import { type ClientOf, print, table } from './format.js';
import { escapeControls } from './terminal.js';


/** Errors that are the operator's input (exit 2) rather than a failed run (exit 1). */
const USAGE_CODES = new Set(['OPS_ERR_PLAYBOOK_UNKNOWN', 'OPS_ERR_TARGET_SYNTAX', 'OPS_ERR_RUN_OPTION', 'OPS_ERR_BAD_REQUEST']);

interface RunOpts {
  target: string;
  concurrency?: string;
  batch?: string;
  maxFail?: string;
  timeout?: string;
  json?: boolean;
  dryRun?: boolean;
}


/**
 * Streams a run: live output prefixed by host (or, with --json, one JSON document at the end
 * with per-host structured results), then a recap. Exit 0 when every host is ok, 1 otherwise,
 * 2 for usage errors. Ctrl-C closes the stream, which cancels the run on every agent.
 */
async function streamRun(client: ControllerClient, path: string, body: Record<string, unknown>, opts: RunOpts): Promise<number> {
  if (opts.dryRun) {
    const plan = await client.send<{ matched: Array<{ id: string; status: string }> }>('POST', path, { ...body, dry_run: true });
    if (opts.json) print(JSON.stringify(plan, null, 2));
    else {
      for (const h of plan.matched) print(`${h.id}${h.status === 'online' ? '' : `  (${h.status})`}`);
      print(`${plan.matched.length} host(s) match "${opts.target}"`);
    }
    return plan.matched.length > 0 ? 0 : 1;
  }
  const ac = new AbortController();
  let cancelled = false;
  const onSigint = () => {
    if (cancelled) process.exit(130);
    cancelled = true;
    process.stderr.write('\nopsctl: cancelling the run on every agent (Ctrl-C again to quit now)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const partial = new Map<string, string>();
  const hosts = new Map<string, { status: string; steps: unknown[]; output: string; error: string; durationMs: number }>();
  let recap: Extract<RunStreamEvent, { type: 'recap' }> | undefined;
  let run: Extract<RunStreamEvent, { type: 'run' }> | undefined;
  let done = 0;
  const tty = process.stderr.isTTY && !opts.json;
  const progress = () => {
    if (tty && run) process.stderr.write(`\r[${done}/${run.matched.length}] hosts done`);
  };
  const width = () => Math.max(...(run?.matched ?? ['']).map((h) => h.length));
  try {
    await client.stream(
      path,
      body,
      (obj) => {
        const e = obj as RunStreamEvent;
        switch (e.type) {
          case 'run':
            run = e;
            for (const h of e.matched) hosts.set(h, { status: 'pending', steps: [], output: '', error: '', durationMs: 0 });
            if (!opts.json) print(`run ${e.runId}: ${e.playbook} on ${e.matched.length} host(s), concurrency ${e.concurrency}`);
            break;
          case 'output': {
            const h = hosts.get(e.host);
            if (h) h.output += e.text;
            if (opts.json) break;
            const text = (partial.get(e.host) ?? '') + e.text;
            const lines = text.split('\n');
            partial.set(e.host, lines.pop()!);
            if (tty) process.stderr.write('\r\x1b[K');
            for (const l of lines) print(`${e.host.padEnd(width())} | ${l}`);
            progress();
            break;
          }
          case 'step':
            hosts.get(e.host)?.steps.push(e);
            if (!opts.json && e.status !== 'ok') print(`${e.host.padEnd(width())} | step ${e.index + 1} ${e.name}: ${e.status}${e.error ? ` (${e.error})` : ''}`);
            break;
          case 'host_done': {
            const h = hosts.get(e.host);
            if (h) Object.assign(h, { status: e.status, error: e.error, durationMs: e.durationMs });
            done++;
            const rest = partial.get(e.host);
            if (!opts.json && rest) print(`${e.host.padEnd(width())} | ${rest}`);
            partial.delete(e.host);
            progress();
            break;
          }
          case 'recap':
            recap = e;
            break;
          default:
            break;
        }
      },
      ac.signal,
    );
  } catch (err) {
    if (!cancelled) throw err;
  } finally {
    process.off('SIGINT', onSigint);
    if (tty) process.stderr.write('\r\x1b[K');
  }
  if (!recap) {
    print(cancelled ? 'run cancelled' : 'run ended without a recap (controller stopped?)');
    return 1;
  }
  if (opts.json) {
    print(JSON.stringify({ runId: recap.runId, status: recap.status, counts: recap.counts, hosts: Object.fromEntries(hosts) }, null, 2));
  } else {
    print('');
    print(`RUN RECAP ${recap.runId} (${(recap.durationMs / 1000).toFixed(1)} s)`);
    const t = table(['HOST', 'STATUS', 'DURATION', 'DETAIL']);
    for (const h of recap.hosts) t.push([h.host, h.status, `${(h.durationMs / 1000).toFixed(2)}s`, h.error]);
    print(t.toString());
    const c = recap.counts;
    print(`ok=${c.ok ?? 0} failed=${c.failed ?? 0}${c.refused ? ` refused=${c.refused}` : ''} unreachable=${c.unreachable ?? 0} skipped=${c.skipped ?? 0}${recap.stoppedEarly ? `  (${recap.stoppedEarly})` : ''}`);
  }
  return recap.status === 'ok' ? 0 : 1;
}

function runBody(opts: RunOpts): Record<string, unknown> {
  const body: Record<string, unknown> = { target: opts.target };
  if (opts.concurrency !== undefined) {
    const n = Number(opts.concurrency);
    if (!Number.isInteger(n) || n < 1) throw new OpsError('OPS_ERR_RUN_OPTION', `--concurrency must be a positive integer, got "${opts.concurrency}"`);
    body.concurrency = n;
  }
  if (opts.batch !== undefined) body.batch = opts.batch;
  if (opts.maxFail !== undefined) body.max_fail = opts.maxFail;
  if (opts.timeout !== undefined) body.timeout = opts.timeout;
  return body;
}

async function exitWith(p: Promise<number>): Promise<void> {
  try {
    process.exitCode = await p;
  } catch (err) {
    if (err instanceof OpsError && USAGE_CODES.has(err.code)) {
      const line = `opsctl: ${err.code}: ${err.message}`;
      process.stderr.write(`${process.stderr.isTTY ? escapeControls(line) : line}\n`);
      process.exit(2);
    }
    throw err;
  }
}

function addRunOptions(c: Command): Command {
  return c
    .requiredOption('-t, --target <expr>', "hosts: '*', globs, lists, tags (role=web), and/or/not, parentheses")
    .option('-c, --concurrency <n>', 'hosts running at once (sliding window)')
    .option('--batch <n|p%>', 'run in batches of this many hosts (or share of the matched hosts)')
    .option('--max-fail <n|p%>', 'stop launching new hosts after more failures than this')
    .option('--timeout <duration>', 'per-host bound, e.g. 30s (default: the playbook timeout)')
    .option('--json', 'print one JSON document with per-host structured results')
    .option('--dry-run', 'print the matched hosts and stop');
}

/** `opsctl run`, `exec`, `runs`, `audit`. */
export function registerRunCommands(program: Command, client: ClientOf): void {
  addRunOptions(program.command('run <playbook>').description('run a playbook on the targeted hosts')).action(async (playbook: string, opts: RunOpts, cmd: Command) => {
    await exitWith(streamRun(client(cmd), 'api/v1/runs', { ...runBody(opts), playbook }, opts));
  });

  addRunOptions(program.command('exec').description('run an ad-hoc shell command (agents need rpc.allow_shell: true)').argument('<command...>', 'command, after --'))
    .action(async (words: string[], opts: RunOpts, cmd: Command) => {
      await exitWith(streamRun(client(cmd), 'api/v1/exec', { ...runBody(opts), command: words.join(' ') }, opts));
    });

  const runs = program.command('runs').description('stored runs').option('--json', 'print JSON');
  runs.action(async (opts: { json?: boolean }, cmd: Command) => {
    const list = await client(cmd).get<RunRecord[]>('api/v1/runs');
    if (opts.json) return print(JSON.stringify(list, null, 2));
    const t = table(['RUN', 'PLAYBOOK', 'TARGET', 'BY', 'STARTED', 'STATUS', 'OK/FAILED/UNREACH/SKIP']);
    for (const r of list) t.push([r.id, r.playbook, r.target, r.actor, r.startedAt, r.status, `${r.counts.ok ?? 0}/${r.counts.failed ?? 0}/${r.counts.unreachable ?? 0}/${r.counts.skipped ?? 0}`]);
    print(t.toString());
  });
  runs
    .command('show <runId>')
    .description('one run with per-host results and output')
    .option('--host <id>', 'only this host')
    .option('--json', 'print JSON')
    .action(async (runId: string, opts: { host?: string; json?: boolean }, cmd: Command) => {
      const r = await client(cmd).get<RunRecord & { hosts: HostRunRecord[] }>(`api/v1/runs/${encodeURIComponent(runId)}${opts.host ? `?host=${encodeURIComponent(opts.host)}` : ''}`);
      if (opts.json) return print(JSON.stringify(r, null, 2));
      print(`run ${r.id}: ${r.playbook} on "${r.target}" by ${r.actor}, ${r.status}, started ${r.startedAt}`);
      for (const h of r.hosts) {
        print(`\n== ${h.hostId}: ${h.status}${h.error ? ` (${h.error})` : ''}`);
        for (const s of h.steps) print(`  step ${s.index + 1} ${s.name}: ${s.status} in ${s.durationMs} ms`);
        if (h.output) print(h.output.replace(/^/gm, '  | ').trimEnd());
        if (h.outputTruncated) print('  | … output truncated');
      }
    });

  const audit = program.command('audit').description('the append-only audit log').option('--json', 'print JSON').option('--limit <n>', 'rows', '50');
  audit.action(async (opts: { json?: boolean; limit: string }, cmd: Command) => {
    const rows = await client(cmd).get<Array<{ id: number; ts_ms: number; actor: string; action: string; subject: string; details: unknown }>>(`api/v1/audit?limit=${encodeURIComponent(opts.limit)}`);
    if (opts.json) return print(JSON.stringify(rows, null, 2));
    for (const r of rows.reverse()) print(`${String(r.id).padStart(6)}  ${new Date(r.ts_ms).toISOString()}  ${r.actor.padEnd(12)} ${r.action.padEnd(12)} ${r.subject}  ${JSON.stringify(r.details)}`);
  });
  audit
    .command('verify')
    .description('check the hash chain; exit 1 naming the first bad row')
    .action(async (_opts: unknown, cmd: Command) => {
      const v = await client(cmd).get<{ ok: boolean; rows: number; badRow?: number; reason?: string; warnings?: string[] }>('api/v1/audit/verify');
      for (const w of v.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
      if (v.ok) print(`audit log ok: ${v.rows} rows verified`);
      else {
        process.stderr.write(`audit log TAMPERED at row ${v.badRow}: ${v.reason}\n`);
        process.exitCode = 1;
      }
    });
}
