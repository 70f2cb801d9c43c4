/**
 * Agent footprint (issue 4): the real agent process with 20 checks (HTTP, TCP, process, disk,
 * file, command) every 10 s and /proc sampling every 5 s, publishing to a private nats-server,
 * measured for 2 minutes (20 s with --quick) after a warm-up: CPU as a percentage of one core
 * (utime+stime from /proc/PID/stat over the window) and peak RSS (VmHWM).
 * Goal: under 1 % CPU and under 80 MB RSS (Netdata publishes 1–5 % of a core and 100+ MB).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { CLK_TCK } from '../agent/proc/proc.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { Child, REPO_ROOT } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';
import type { Bench } from './types.js';

function cpuTicks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function status(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const bench: Bench = {
  name: 'agent-footprint',
  async run({ quick }) {
    const windowMs = quick ? 20_000 : 120_000;
    const warmupMs = 10_000;
    const tmp = tempDir('opsfleet-footprint-');
    const nats = await NatsServer.start({ operator: false }); // plain NATS: comparable with the figures recorded before per-host JWT auth (its cost: bench/nats-auth)
    const http = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    const alive = join(tmp.path, 'alive');
    writeFileSync(alive, 'ok');
    const checks: string[] = [];
    for (let i = 0; i < 8; i++) checks.push(`  - { name: http-${i}, type: http, url: "http://127.0.0.1:${port}/healthz", expect: { status: [200], body_contains: ok } }`);
    for (let i = 0; i < 6; i++) checks.push(`  - { name: tcp-${i}, type: tcp, host: 127.0.0.1, port: ${port} }`);
    for (let i = 0; i < 2; i++) checks.push(`  - { name: proc-${i}, type: process, match: { name: nats-server } }`);
    for (let i = 0; i < 2; i++) checks.push(`  - { name: disk-${i}, type: disk, path: /, max_used_percent: 100 }`);
    checks.push(`  - { name: file-0, type: file, path: ${alive} }`);
    checks.push('  - { name: cmd-0, type: command, command: "true" }');
    const cfg = join(tmp.path, 'agent.yaml');
    writeFileSync(
      cfg,
      [
        'host: { id: footprint-1 }',
        `nats: { servers: ["${nats.url}"] }`,
        `state_dir: ${join(tmp.path, 'state')}`,
        'heartbeat_interval: 10s',
        'log: { level: warn }',
        'metrics: { interval: 5s }',
        'checks:',
        ...checks,
        '',
      ].join('\n'),
    );
    const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
    try {
      const bin = join(REPO_ROOT, 'bin/opsfleet-agent.js');
      const viaTsx = await measure([bin, '--config', cfg], { OPSFLEET_RUNTIME: 'tsx' }, warmupMs, windowMs);
      // The shipped form: npm run build, then the same bin runs dist/opsfleet-agent.js.
      const build = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs')], { encoding: 'utf8' });
      if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`);
      const viaBundle = await measure([bin, '--config', cfg], { OPSFLEET_RUNTIME: 'dist' }, warmupMs, windowMs);
      const rows = [];
      for (const [label, m] of [['bin/opsfleet-agent.js, sources through tsx', viaTsx], ['bin/opsfleet-agent.js, compiled (dist/ bundle, shipped)', viaBundle]] as const) {
        rows.push({ name: `${label}: CPU % of one core`, rate: m.cpuPct, unit: '%', count: Math.round(m.cpuPct * 100) / 100, seconds: m.secs, note: `${m.cpuPct.toFixed(2)} % of a core (goal < 1 %)` });
        rows.push({ name: `${label}: peak RSS`, rate: m.hwm / 1024 / 1024, unit: 'MB', count: m.hwm, seconds: m.secs, note: `VmHWM ${mb(m.hwm)} MB, peak VmRSS in window ${mb(m.peakRss)} MB (goal < 80 MB)` });
      }
      return {
        title: 'Agent footprint: 20 checks every 10 s, /proc sampling every 5 s',
        rows,
        notes: [
          `Warm-up ${warmupMs / 1000} s, then a ${windowMs / 1000} s window; CPU is utime+stime of the agent process over the window, RSS from /proc/PID/status. The rate column repeats the figure (% or MB), not a per-second rate.`,
          'Checks: 8 http, 6 tcp, 2 process, 2 disk, 1 file, 1 command (a /bin/sh fork every 10 s); events go through the outbox to JetStream on a private nats-server.',
          'The tsx loader (transpiler and its cache) accounts for the difference between the two runs; the sources are the same. An agent with no checks and no sampling measures about the same RSS as with them: the libraries (gRPC, NATS, SQLite, zod, pino) dominate, not health/metrics.',
          `Verdict (tsx): CPU ${viaTsx.cpuPct < 1 ? 'meets' : 'misses'} the 1 % goal, RSS ${viaTsx.hwm < 80 * 2 ** 20 ? 'meets' : 'misses'} the 80 MB goal. Verdict (bundle): CPU ${viaBundle.cpuPct < 1 ? 'meets' : 'misses'}, RSS ${viaBundle.hwm < 80 * 2 ** 20 ? 'meets' : 'misses'}.`,
        ],
      };
    } finally {
      http.close();
      await nats.dispose();
      tmp.cleanup();
    }
  },
};

/** Runs the agent with `args`, waits `warmupMs`, and samples its CPU and RSS over `windowMs`. */
async function measure(args: string[], env: NodeJS.ProcessEnv, warmupMs: number, windowMs: number): Promise<{ cpuPct: number; peakRss: number; hwm: number; secs: number }> {
  const agent = new Child(process.execPath, args, { env });
  try {
    await agent.waitForLog((l) => l.msg === 'agent started' || l.level === 40 || l.level === 30, 30_000, 'agent running').catch(() => undefined);
    await new Promise((r) => setTimeout(r, warmupMs));
    if (!agent.running) throw new Error(`agent exited\n${agent.tail()}`);
    const t0 = performance.now();
    const c0 = cpuTicks(agent.pid);
    let peakRss = 0;
    while (performance.now() - t0 < windowMs) {
      await new Promise((r) => setTimeout(r, 1000));
      peakRss = Math.max(peakRss, status(agent.pid, 'VmRSS'));
    }
    const secs = (performance.now() - t0) / 1000;
    return { cpuPct: ((cpuTicks(agent.pid) - c0) / CLK_TCK / secs) * 100, peakRss, hwm: status(agent.pid, 'VmHWM'), secs };
  } finally {
    await agent.stop();
  }
}

export default bench;
