/**
 * The release bundle (issue 14): its size (goal < 45 MB), the cold start of the bundled agent
 * (its own Node 24) against the compiled agent on this machine's Node 20, install-to-online on
 * loopback without the download (goal < 10 s: install.sh from a local bundle, then the installed
 * agent started from its unit line until the controller lists it online), and idle RSS of both.
 * CPU time (utime+stime from /proc) is reported beside wall time: it survives a loaded machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLK_TCK } from '../agent/proc/proc.js';
import { api, createEnrollToken, startController } from '../test/helpers/daemons.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { Child, REPO_ROOT } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';
import { waitFor } from '../test/helpers/wait.js';
import { buildRelease, PKG_VERSION } from '../test/install/release.js';
import type { Bench, BenchRow } from './types.js';

function cpuSecs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[11]) + Number(x[12])) / CLK_TCK;
}
function statusKb(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const bench: Bench = {
  name: 'bundle',
  async run({ quick }) {
    const tmp = tempDir('opsfleet-bundle-bench-');
    const nats = await NatsServer.start();
    const children: Child[] = [];
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    try {
      // --- size (gzip -9 as npm run release ships it; --quick: gzip -1) ------------------------
      const t0 = performance.now();
      const bundle = quick ? await buildRelease(join(tmp.path, 'rel'), PKG_VERSION) : await new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, [join(REPO_ROOT, 'scripts/release.mjs'), '--only', 'agent', '--out', join(tmp.path, 'rel')], { stdio: 'ignore' });
        p.once('exit', (c) => (c === 0 ? resolve(join(tmp.path, 'rel', `opsfleet-agent-${PKG_VERSION}-linux-x64.tar.gz`)) : reject(new Error(`release exit ${c}`))));
      });
      const buildSecs = (performance.now() - t0) / 1000;
      const size = statSync(bundle).size;
      const unpacked = join(tmp.path, 'unpacked');
      spawnSync('mkdir', ['-p', unpacked]);
      spawnSync('tar', ['-xzf', bundle, '-C', unpacked, '--strip-components=1']);
      const du = (p: string) => Number(spawnSync('du', ['-sb', p], { encoding: 'utf8' }).stdout.split('\t')[0]);
      rows.push({ name: `agent bundle size (${quick ? 'gzip -1, --quick' : 'gzip -9, as shipped'})`, rate: size / 1e6, unit: 'MB', count: size, seconds: buildSecs, note: `${(size / 1e6).toFixed(1)} MB (goal < 45 MB); unpacked ${(du(unpacked) / 1e6).toFixed(0)} MB of which runtime ${(du(join(unpacked, 'runtime')) / 1e6).toFixed(0)} MB, node_modules ${(du(join(unpacked, 'node_modules')) / 1e6).toFixed(1)} MB, dist ${(du(join(unpacked, 'dist')) / 1e6).toFixed(1)} MB; build with cached runtime/addons ${buildSecs.toFixed(0)} s` });

      // --- cold start and idle RSS: bundled (Node 24) vs dist/ on this Node -------------------
      const build = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs')], { encoding: 'utf8' });
      if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`);
      const runs = quick ? 3 : 7;
      const idleMs = quick ? 10_000 : 30_000;
      const variants = [
        { label: `bundled agent (runtime/bin/node, Node 24)`, cmd: join(unpacked, 'bin/opsfleet-agent'), pre: [] as string[], env: {} },
        { label: `compiled agent on this machine's ${process.version} (dist/, npm run build)`, cmd: process.execPath, pre: [join(REPO_ROOT, 'bin/opsfleet-agent.js')], env: { OPSFLEET_RUNTIME: 'dist' } },
      ];
      for (const v of variants) {
        const walls: number[] = [];
        const cpus: number[] = [];
        let rss = 0;
        let hwm = 0;
        for (let i = 0; i < runs; i++) {
          const cfg = join(tmp.path, `agent-${i}.yaml`);
          writeFileSync(cfg, [`host: { id: cold-${i} }`, `nats: { servers: ["${nats.url}"] }`, `state_dir: ${join(tmp.path, `state-${v.pre.length}-${i}`)}`, 'heartbeat_interval: 10s', 'log: { level: info }', ''].join('\n'));
          const s = performance.now();
          const c = new Child(v.cmd, [...v.pre, '--config', cfg], { env: v.env });
          children.push(c);
          await c.waitForLog((l) => l.msg === 'agent started', 60_000, 'agent started');
          walls.push(performance.now() - s);
          cpus.push(cpuSecs(c.pid));
          if (i === runs - 1) {
            await new Promise((r) => setTimeout(r, idleMs));
            rss = statusKb(c.pid, 'VmRSS');
            hwm = statusKb(c.pid, 'VmHWM');
          }
          await c.stop();
        }
        rows.push({ name: `${v.label}: cold start to "agent started"`, rate: median(walls), unit: 'ms', count: runs, seconds: median(walls) / 1000, note: `median wall ${median(walls).toFixed(0)} ms, median CPU ${(median(cpus) * 1000).toFixed(0)} ms (utime+stime, survives load)` });
        rows.push({ name: `${v.label}: idle RSS after ${idleMs / 1000} s`, rate: rss / 1024, unit: 'MB', count: rss * 1024, seconds: idleMs / 1000, note: `VmRSS ${(rss / 1024).toFixed(1)} MB, VmHWM ${(hwm / 1024).toFixed(1)} MB` });
      }

      // --- install to online, without the download --------------------------------------------
      const ctl = await startController({ natsUrl: nats.url, dir: tmp.path });
      children.push(ctl.child);
      const prefix = join(tmp.path, 'root');
      // The secure way, as an operator installs: a one-use enrollment token; install.sh enrolls
      // the host (key and CSR made there, certificate and NATS credentials from the controller).
      const token = await createEnrollToken(ctl.url, { ttl: '10m', uses: 1 });
      const s = performance.now();
      const inst = spawnSync('bash', [join(REPO_ROOT, 'scripts/install.sh'), '--bundle', bundle, '--prefix', prefix, '--no-enable', '--id', 'bench-01', '--nats', nats.url, '--controller', ctl.url, '--token', token, '--rpc-listen', '127.0.0.1:0'], { encoding: 'utf8' });
      if (inst.status !== 0) throw new Error(`install failed: ${inst.stdout}${inst.stderr}`);
      const installed = performance.now();
      const unit = readFileSync(join(prefix, 'etc/systemd/system/opsfleet-agent.service'), 'utf8');
      const [cmd, ...args] = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(' ');
      const agent = new Child(cmd!, args);
      children.push(agent);
      await waitFor(async () => (await api<Array<{ id: string; status: string }>>(ctl.url, '/api/v1/hosts')).find((h) => h.id === 'bench-01' && h.status === 'online'), { timeout: 60_000, interval: 50, what: 'bench-01 online' });
      const online = performance.now();
      const total = (online - s) / 1000;
      rows.push({ name: 'install to online (loopback, local bundle: no download)', rate: total, unit: 's', count: 1, seconds: total, note: `${total.toFixed(1)} s (goal < 10 s): install.sh ${((installed - s) / 1000).toFixed(1)} s (sha256, unpack ~110 MB, enroll, config, validate with the bundled runtime, unit), agent start to online ${((online - installed) / 1000).toFixed(1)} s` });
      await agent.stop();
      notes.push('Cold start: spawn to the agent\'s "agent started" log line (outbox opened, components started; NATS connects after). CPU is the process\'s utime+stime at that moment.');
      notes.push('Idle RSS: the last cold-start run of each variant left idle (heartbeat 10 s, no checks) before reading /proc/PID/status.');
      notes.push('The rate column repeats the figure (MB, ms or s), not a per-second rate.');
      return { title: 'Release bundle: size, cold start, install to online, idle RSS (Node 24 bundle vs Node 20 dist)', rows, notes };
    } finally {
      for (const c of children) await c.stop();
      await nats.dispose();
      tmp.cleanup();
    }
  },
};

export default bench;
