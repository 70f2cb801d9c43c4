import type { Command } from 'commander';
import { runSweep, type SweepResult, type SweepSummary } from '../shared/sweep/sweep.js';
import { compareTargets, parseTargets } from '../shared/sweep/targets.js';
import { parseDuration } from '../shared/duration.js';
import { OpsError } from '../shared/errors.js';
import type { Sample } from '../shared/metrics/sample.js';
import type { CheckView } from '../controller/api/wire.js';
import type { ControllerClient } from './client.js';
import { ago, bytes, print, table } from './format.js';

const pct = (n: number) => `${n.toFixed(1)}%`;
const rate = (bps: number) => `${bytes(bps)}/s`;

/**
 * opsctl checks · opsctl host metrics H · opsctl sweep. Registered in opsctl.ts with one call;
 * `host metrics` joins the existing `host` command group.
 */
export function registerChecksCommands(program: Command, client: (cmd: Command) => ControllerClient): void {
  program
    .command('checks')
    .description('health checks across the fleet, latest state per host and check')
    .option('--host <id>', 'only this host')
    .option('--state <state>', 'only checks in this state: up, down or unknown')
    .option('--json', 'print a JSON array')
    .action(async (opts: { host?: string; state?: string; json?: boolean }, cmd: Command) => {
      const q = new URLSearchParams();
      if (opts.host) q.set('host', opts.host);
      if (opts.state) q.set('state', opts.state);
      const checks = await client(cmd).get<CheckView[]>(`api/v1/checks${q.size ? `?${q}` : ''}`);
      if (opts.json) return print(JSON.stringify(checks, null, 2));
      if (checks.length === 0) return print('no checks match');
      const t = table(['HOST', 'CHECK', 'TYPE', 'STATE', 'SINCE', 'LATENCY', 'RESTARTS', 'DETAIL']);
      for (const c of checks) {
        const state = c.state === 'down' ? 'DOWN' : c.state;
        t.push([c.host, c.name, c.type, `${state}${c.gaveUp ? ' (gave up)' : ''}`, ago(c.since), `${Math.round(c.latencyMs)}ms`, String(c.restarts), c.detail.slice(0, 60)]);
      }
      print(t.toString());
      const down = checks.filter((c) => c.state === 'down').length;
      print(`${checks.length} check(s), ${down} down`);
    });

  const host = program.commands.find((c) => c.name() === 'host') ?? program.command('host').description('one host');
  host
    .command('metrics <id>')
    .description('latest resource sample of a host, with its top processes')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const m = await client(cmd).get<{ host: string; ts: string; sample: Sample }>(`api/v1/hosts/${encodeURIComponent(id)}/metrics`);
      if (opts.json) return print(JSON.stringify(m, null, 2));
      const s = m.sample;
      print(`host:   ${m.host} (sampled ${ago(m.ts)})`);
      print(`cpu:    ${pct(s.cpu.percent)} (iowait ${pct(s.cpu.iowait)}, steal ${pct(s.cpu.steal)}) over ${s.cpu.cores.length} cores: ${s.cpu.cores.map((c) => Math.round(c)).join(' ')}`);
      print(`load:   ${s.load.join(' ')} (${s.load_per_core} per core)`);
      print(`memory: ${pct(s.mem.used_percent)} of ${bytes(s.mem.total)} used, ${bytes(s.mem.available)} available`);
      print(`swap:   ${s.swap.total ? `${pct(s.swap.used_percent)} of ${bytes(s.swap.total)}` : 'none'}`);
      const d = table(['MOUNT', 'DEVICE', 'USED', 'SIZE', 'INODES', 'READ', 'WRITE']);
      for (const x of s.disks) d.push([x.mount, x.device, pct(x.used_percent), bytes(x.total), pct(x.inodes_used_percent), rate(x.read_bps), rate(x.write_bps)]);
      if (s.disks.length) print(d.toString());
      const n = table(['INTERFACE', 'RX', 'TX']);
      for (const x of s.net) n.push([x.iface, rate(x.rx_bps), rate(x.tx_bps)]);
      if (s.net.length) print(n.toString());
      const p = table(['PID', 'PROCESS', 'CPU', 'RSS']);
      const seen = new Set<number>();
      for (const x of [...s.top_cpu, ...s.top_rss]) {
        if (seen.has(x.pid)) continue;
        seen.add(x.pid);
        p.push([String(x.pid), x.name, pct(x.cpu), bytes(x.rss)]);
      }
      if (seen.size) print(p.toString());
    });

  host
    .command('reset-restarts <id> <check>')
    .description('after RestartGaveUp: forget the check\'s restart attempts and restart it now if it is down')
    .action(async (id: string, check: string, _opts: unknown, cmd: Command) => {
      const r = await post<{ host: string; check: string; state: string; restarting: boolean }>(client(cmd), `api/v1/hosts/${encodeURIComponent(id)}/checks/${encodeURIComponent(check)}/reset-restarts`);
      print(`${r.host}/${r.check}: restart budget reset; check is ${r.state}${r.restarting ? ', restarting now' : ''}`);
    });

  program
    .command('sweep')
    .description('dial every target:port (TCP connect) and report reachable/refused/timeout, from here or --from an agent')
    .requiredOption('--targets <list>', 'hosts, IPv4 CIDRs and host:port, comma-separated (10.0.0.0/24,db-1:5432)')
    .option('--ports <list>', 'ports for targets without their own (22,80,8000-8010)', '')
    .option('--concurrency <n>', 'dials in flight at once', '500')
    .option('--timeout <duration>', 'per-dial timeout', '2s')
    .option('--from <host>', 'run the sweep on this agent (through the controller, over gRPC)')
    .option('--only <status>', 'print only results with this status (reachable, refused, timeout...)')
    .option('--json', 'print JSON: { results, summary }')
    .action(async (opts: { targets: string; ports: string; concurrency: string; timeout: string; from?: string; only?: string; json?: boolean }, cmd: Command) => {
      const concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new OpsError('OPS_ERR_SWEEP_INPUT', `--concurrency must be a positive integer, got "${opts.concurrency}"`);
      const timeoutMs = parseDuration(opts.timeout);
      if (timeoutMs === undefined || timeoutMs < 1) throw new OpsError('OPS_ERR_SWEEP_INPUT', `--timeout must be a duration like "2s", got "${opts.timeout}"`);
      const results: SweepResult[] = [];
      let summary: SweepSummary;
      if (opts.from) {
        summary = await remoteSweep(client(cmd), opts.from, { targets: opts.targets, ports: opts.ports, concurrency, timeout: opts.timeout }, results);
      } else {
        const targets = parseTargets(opts.targets, opts.ports);
        summary = await runSweep(targets, { concurrency, timeoutMs }, (r) => results.push(r));
      }
      results.sort(compareTargets);
      const shown = opts.only ? results.filter((r) => r.status === opts.only) : results;
      if (opts.json) return print(JSON.stringify({ from: opts.from ?? 'local', results: shown, summary }, null, 2));
      if (shown.length) {
        const t = table(['TARGET', 'STATUS', 'LATENCY', 'DETAIL']);
        for (const r of shown) t.push([r.host.includes(':') ? `[${r.host}]:${r.port}` : `${r.host}:${r.port}`, r.status, `${r.latencyMs.toFixed(1)}ms`, r.status === 'reachable' ? '' : r.detail]);
        print(t.toString());
      }
      print(
        `${summary.total} dialled from ${opts.from ?? 'here'} in ${summary.elapsedMs}ms (${summary.rate}/s): ${summary.reachable} reachable, ${summary.refused} refused, ${summary.timeout} timeout` +
          (summary.unreachable ? `, ${summary.unreachable} unreachable` : '') +
          (summary.error ? `, ${summary.error} error` : ''),
      );
    });
}

/** POST without a body; errors as the controller reports them. */
async function post<T>(c: ControllerClient, path: string): Promise<T> {
  const url = new URL(path, c.baseUrl.endsWith('/') ? c.baseUrl : `${c.baseUrl}/`);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new OpsError('OPS_ERR_CONTROLLER_UNREACHABLE', `cannot reach controller at ${c.baseUrl} (${(err as Error).message})`, { cause: err, retryable: true });
  }
  const body = (await res.json().catch(() => ({}))) as T & { error?: { code?: string; message?: string } };
  if (!res.ok) throw new OpsError(body.error?.code ?? 'OPS_ERR_CONTROLLER_RESPONSE', body.error?.message ?? `HTTP ${res.status}`);
  return body;
}

/** Streams a sweep from an agent through the controller (NDJSON). */
async function remoteSweep(c: ControllerClient, host: string, q: { targets: string; ports: string; concurrency: number; timeout: string }, out: SweepResult[]): Promise<SweepSummary> {
  const params = new URLSearchParams({ targets: q.targets, ports: q.ports, concurrency: String(q.concurrency), timeout: q.timeout });
  const url = new URL(`api/v1/hosts/${encodeURIComponent(host)}/sweep?${params}`, c.baseUrl.endsWith('/') ? c.baseUrl : `${c.baseUrl}/`);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new OpsError('OPS_ERR_CONTROLLER_UNREACHABLE', `cannot reach controller at ${c.baseUrl} (${(err as Error).message})`, { cause: err, retryable: true });
  }
  if (!res.ok || !res.body) {
    const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    throw new OpsError(body.error?.code ?? 'OPS_ERR_CONTROLLER_RESPONSE', body.error?.message ?? `HTTP ${res.status}`);
  }
  let summary: SweepSummary | undefined;
  let buf = '';
  const decoder = new TextDecoder();
  const handle = (line: string) => {
    if (!line.trim()) return;
    const v = JSON.parse(line) as SweepResult & { summary?: SweepSummary; error?: { code: string; message: string } };
    if (v.error) throw new OpsError(v.error.code, v.error.message);
    if (v.summary) summary = v.summary;
    else out.push({ host: v.host, port: v.port, status: v.status, latencyMs: v.latencyMs, detail: v.detail });
  };
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      handle(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  handle(buf);
  if (!summary) throw new OpsError('OPS_ERR_SWEEP_INCOMPLETE', `the sweep from ${host} ended without a summary (agent or controller stopped?)`);
  return summary;
}
