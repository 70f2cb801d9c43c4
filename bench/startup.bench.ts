/**
 * Start-up of the shipped programs (issue 11): `opsctl --version` and `opsctl hosts --json`
 * (against a live controller with three hosts) as tsx runs them from the sources, as the
 * esbuild bundles in dist/ run them (`npm run build`, what bin/*.js run when built) and as
 * tsc's one-file-per-module output would, each against bare `node -e 0` measured in the same
 * run, interleaved so machine load hits every variant alike. Goal: compiled ≤ 2× bare node.
 * Wall time and CPU time (user+sys, from /usr/bin/time) are medians; RSS is the median peak.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent, startController } from '../test/helpers/daemons.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { REPO_ROOT } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';
import type { Bench, BenchRow } from './types.js';

interface Sample {
  wallMs: number;
  cpuMs: number;
  rssKb: number;
}

const TIME = '/usr/bin/time';

function runOnce(args: string[], env: NodeJS.ProcessEnv): Sample {
  const useTime = existsSync(TIME);
  const t0 = performance.now();
  const r = useTime
    ? spawnSync(TIME, ['-f', '%U %S %M', process.execPath, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8' })
    : spawnSync(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  if (!useTime) return { wallMs, cpuMs: NaN, rssKb: NaN };
  const [u, s, m] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number];
  return { wallMs, cpuMs: (u + s) * 1000, rssKb: m };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** tsc's output of the programs, beside a copy of package.json and the repo's node_modules. */
function buildTsc(dir: string): string {
  const out = join(dir, 'tsc');
  mkdirSync(out, { recursive: true });
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(out, 'dist'), '--sourceMap', 'false'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc failed: ${r.stdout}${r.stderr}`);
  copyFileSync(join(REPO_ROOT, 'package.json'), join(out, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(out, 'node_modules'));
  return join(out, 'dist', 'cli', 'opsctl.js');
}

const bench: Bench = {
  name: 'startup',
  async run({ quick }) {
    const rounds = quick ? 5 : 15;
    const tmp = tempDir('opsfleet-startup-');
    const build = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs')], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`);
    const tscOpsctl = quick ? undefined : buildTsc(tmp.path);
    const nats = await NatsServer.start();
    const ctl = await startController({ natsUrl: nats.url, dir: tmp.path });
    const agents = [];
    for (const id of ['web-01', 'web-02', 'db-01']) agents.push(await startAgent({ natsUrl: nats.url, dir: tmp.path, id, rpc: false }));
    try {
      const opsctl = join(REPO_ROOT, 'bin/opsctl.js');
      const variants: Array<{ name: string; args: (cmd: string[]) => string[]; env: NodeJS.ProcessEnv }> = [
        { name: 'tsx (sources)', args: (c) => [opsctl, ...c], env: { OPSFLEET_RUNTIME: 'tsx' } },
        { name: 'esbuild bundle (dist/, shipped)', args: (c) => [opsctl, ...c], env: { OPSFLEET_RUNTIME: 'dist' } },
        ...(tscOpsctl ? [{ name: 'tsc output', args: (c: string[]) => [tscOpsctl, ...c], env: {} }] : []),
      ];
      const commands = [['--version'], ['hosts', '--json', '--controller', ctl.url]];
      const baseline: Sample[] = [];
      const samples = new Map<string, Sample[]>();
      for (let i = 0; i < rounds; i++) {
        baseline.push(runOnce(['-e', '0'], {}));
        for (const v of variants) for (const c of commands) {
          const key = `${v.name}\0${c[0]}`;
          // Auth is on, as users run it: opsctl carries the bootstrap admin token.
          samples.set(key, [...(samples.get(key) ?? []), runOnce(v.args(c), { ...v.env, OPSFLEET_TOKEN: ctl.token })]);
        }
      }
      const base = { wall: median(baseline.map((s) => s.wallMs)), cpu: median(baseline.map((s) => s.cpuMs)), rss: median(baseline.map((s) => s.rssKb)) };
      const rows: BenchRow[] = [
        { name: 'node -e 0 (baseline)', rate: base.wall, unit: 'ms', count: rounds, seconds: base.wall / 1000, note: `wall ${base.wall.toFixed(0)} ms, CPU ${base.cpu.toFixed(0)} ms, RSS ${(base.rss / 1024).toFixed(0)} MB` },
      ];
      const verdicts: string[] = [];
      for (const v of variants) for (const c of commands) {
        const s = samples.get(`${v.name}\0${c[0]}`)!;
        const wall = median(s.map((x) => x.wallMs));
        const cpu = median(s.map((x) => x.cpuMs));
        const rss = median(s.map((x) => x.rssKb));
        const label = `opsctl ${c.slice(0, 2).join(' ')} — ${v.name}`;
        rows.push({ name: label, rate: wall, unit: 'ms', count: rounds, seconds: wall / 1000, note: `wall ${wall.toFixed(0)} ms = ${(wall / base.wall).toFixed(2)}× node, CPU ${cpu.toFixed(0)} ms = ${(cpu / base.cpu).toFixed(2)}× node, RSS ${(rss / 1024).toFixed(0)} MB` });
        if (v.name.startsWith('esbuild')) verdicts.push(`${label}: ${wall / base.wall <= 2 ? 'meets' : 'misses'} the ≤ 2× goal on wall time (${(wall / base.wall).toFixed(2)}×), ${cpu / base.cpu <= 2 ? 'meets' : 'misses'} it on CPU time (${(cpu / base.cpu).toFixed(2)}×)`);
      }
      return {
        title: 'Start-up: opsctl --version and hosts --json, tsx vs compiled, against bare node',
        rows,
        notes: [
          `Medians of ${rounds} interleaved rounds; the rate column repeats the median wall time in ms, not a per-second rate. CPU is user+sys of the process (/usr/bin/time), less sensitive than wall time to other load on the machine.`,
          '`hosts --json` asks a live controller (tsx) with three agents; its answer time is part of the figure for every variant alike.',
          ...verdicts,
        ],
      };
    } finally {
      for (const a of agents) await a.child.stop();
      await ctl.child.stop();
      await nats.dispose();
      tmp.cleanup();
    }
  },
};

export default bench;
