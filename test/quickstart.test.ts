import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { agentConfigSchema } from '../shared/config/agent.js';
import { controllerConfigSchema } from '../shared/config/controller.js';
import { loadConfigFile } from '../shared/config/load.js';
import { runCommand } from './helpers/daemons.js';
import { Child, REPO_ROOT } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function gitStatus(): string {
  return execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: REPO_ROOT, encoding: 'utf8' });
}

describe('scripts/quickstart.sh', () => {
  const tmp = tempDir('opsfleet-quickstart-');
  const data = join(tmp.path, 'data');
  const pids: number[] = [];
  const home = join(tmp.path, 'home');
  after(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    tmp.cleanup();
  });

  /** Starts quickstart, waits for its first screen; returns what it printed and the PIDs. */
  async function start(): Promise<{ qs: Child; out: string; url: string; hostId: string; natsPid: number; controllerPid: number; agentPid: number }> {
    // --no-typecheck: the suite type-checks once in scripts/test.sh; port 0: never assume 8080 is free.
    // Its own config home: quickstart logs opsctl in with the bootstrap token, as it does for a newcomer.
    const qs = new Child('bash', ['scripts/quickstart.sh', '--no-typecheck'], { env: { OPSFLEET_QUICKSTART_DATA: data, OPSFLEET_QUICKSTART_HTTP_PORT: '0', XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: '' } });
    try {
      await waitFor(
        () => {
          if (!qs.running) throw new Error(`quickstart exited (${qs.exitCode})\n${qs.stdout}\n${qs.stderr}`);
          return qs.stdout.includes('Press Ctrl-C');
        },
        { timeout: 300_000, interval: 200, what: 'quickstart ready' },
      );
    } catch (err) {
      // SIGTERM: quickstart stops what it started, by PID, in order.
      await qs.stop(30_000);
      throw new Error(`${(err as Error).message}\n${qs.tail()}`);
    }
    const out = qs.stdout;
    const url = /export OPSFLEET_CONTROLLER=(\S+)/.exec(out)![1]!;
    const m = /nats-server \(pid (\d+)\).*controller \(pid (\d+)\).*agent "([^"]+)" \(pid (\d+)\)/.exec(out)!;
    const [natsPid, controllerPid, hostId, agentPid] = [Number(m[1]), Number(m[2]), m[3]!, Number(m[4])];
    pids.push(agentPid, controllerPid, natsPid);
    return { qs, out, url, hostId, natsPid, controllerPid, agentPid };
  }

  async function stop(r: Awaited<ReturnType<typeof start>>): Promise<void> {
    r.qs.kill('SIGINT');
    const { code } = await r.qs.exited;
    assert.equal(code, 0, r.qs.tail());
    for (const pid of [r.natsPid, r.controllerPid, r.agentPid]) assert.equal(alive(pid), false, `pid ${pid} still running`);
    const order = ['stopping agent', 'stopping controller', 'stopping nats-server'].map((s) => r.qs.stdout.indexOf(s));
    assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), `stop order: ${r.qs.stdout.slice(-600)}`);
    assert.match(r.qs.stdout, /agent exited \(0\)[\s\S]*controller exited \(0\)[\s\S]*nats-server exited \(0\)/);
  }

  it('runs a demo with no effect outside its data folder: a green first screen, every capability showing something, stopped in order on SIGINT', async () => {
    const before = gitStatus();
    const r = await start();
    try {
      // The README's commands as typed: no token anywhere but the credentials quickstart's login wrote.
      const opsctl = (...args: string[]) => runCommand('opsctl', args, { OPSFLEET_CONTROLLER: r.url, XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: '' });
      assert.match(r.out, /opsctl logged in to http:\/\/127\.0\.0\.1:\d+ \(admin \(admin\)/);
      // The first screen: the host online and every demo check up.
      assert.match(r.out, /1 host\(s\), 1 online, 0 offline/);
      assert.match(r.out, /4 check\(s\), 0 down/);
      assert.doesNotMatch(r.out, /│ down │/);

      // Every path the demo configs name lies in the data folder; probes go to the demo service.
      const agentCfg = loadConfigFile(join(data, 'agent.yaml'), agentConfigSchema, { ...process.env, ...demoEnv(r.out, data) });
      const inside = (p: string) => p === data || p.startsWith(`${data}/`);
      assert.ok(inside(agentCfg.state_dir));
      // NATS runs in operator mode: the agent connects with its own per-host user.
      assert.match(r.out, /JWT auth: one NATS user per host/);
      assert.ok(agentCfg.nats.creds_file && inside(agentCfg.nats.creds_file));
      for (const c of agentCfg.checks) {
        if ('path' in c) assert.ok(inside(String(c.path)), `check ${c.name} reads ${String(c.path)}`);
        if ('url' in c) assert.match(String(c.url), /^http:\/\/127\.0\.0\.1:\d+\/healthz$/);
        const sup = c.on_failure?.restart?.supervise;
        if (sup) assert.ok(inside(sup.cwd ?? ''), `supervised service runs in ${sup.cwd}`);
        assert.equal(c.on_failure?.restart?.command, undefined, 'no restart command touches system services');
      }
      for (const b of agentCfg.backups) {
        assert.ok(b.paths.every(inside), `backup ${b.name} reads ${b.paths.join(',')}`);
        assert.equal(b.target.type, 'dir');
        assert.ok(inside((b.target as { path: string }).path));
      }
      for (const l of agentCfg.logs) assert.ok(l.paths.every(inside), `log source ${l.name} tails ${l.paths.join(',')}`);
      const ctlCfg = loadConfigFile(join(data, 'controller.yaml'), controllerConfigSchema, { ...process.env, ...demoEnv(r.out, data) });
      assert.ok(inside(ctlCfg.data_dir));

      // Every capability shows something.
      const checks = JSON.parse((await opsctl('checks', '--json')).stdout) as Array<{ name: string; state: string }>;
      assert.deepEqual(checks.map((c) => [c.name, c.state]).sort(), [['data-disk', 'up'], ['demo-alive', 'up'], ['demo-web', 'up'], ['demo-web-process', 'up']]);
      assert.equal((await opsctl('host', 'metrics', r.hostId, '--json')).code, 0);
      const backups = JSON.parse((await opsctl('backup', 'list', '--json')).stdout) as { snapshots: Array<{ set: string }> };
      assert.ok(backups.snapshots.some((s) => s.set === 'demo-files'), 'a snapshot of the demo folder');
      assert.ok(readdirSync(join(data, 'backup-target'), { recursive: true }).length > 0, 'the snapshot is in the demo target folder');
      await waitFor(async () => {
        const stats = JSON.parse((await opsctl('logs', 'stats', '--host', r.hostId, '--json')).stdout) as unknown[];
        return JSON.stringify(stats).includes('demo-app');
      }, { timeout: 60_000, what: 'log statistics of the demo log' });
      const run = await opsctl('run', 'demo-inspect', '--target', '*', '--json');
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal((JSON.parse(run.stdout) as { status: string }).status, 'ok');
      const tasks = await opsctl('tasks', '--json');
      assert.match(tasks.stdout, /demo-inspection/);
      assert.deepEqual(JSON.parse((await opsctl('alerts', '--json')).stdout), [], 'no alert fires in the demo');

      // It says where the configs are and how to change them.
      assert.match(r.out, /Configs \(copied once, never overwritten; edit them, then run quickstart again\)/);
      assert.match(r.out, /agent\.yaml: written from examples\/quickstart\/agent\.yaml/);
      assert.match(r.out, /validate .*agent\.yaml/);
    } finally {
      await stop(r);
    }
    // Nothing in the checkout changed (the data folder is elsewhere in this test).
    assert.equal(gitStatus(), before);
  });

  it('never overwrites the configs the user edited; a second run keeps them and says so', async () => {
    const file = join(data, 'agent.yaml');
    assert.ok(existsSync(file), 'the first test wrote it');
    appendFileSync(file, '# my own edit\n');
    const edited = readFileSync(file, 'utf8');
    const r = await start();
    try {
      assert.equal(readFileSync(file, 'utf8'), edited);
      assert.match(r.out, /agent\.yaml: yours, kept as it is/);
      assert.match(r.out, /1 host\(s\), 1 online/);
    } finally {
      await stop(r);
    }
  });
});

/** The ${env:...} values quickstart set, recovered from its output (only paths matter here). */
function demoEnv(out: string, data: string): NodeJS.ProcessEnv {
  const port = /demo web service the agent supervises \(port (\d+)\)/.exec(out)?.[1] ?? '1';
  return {
    OPSFLEET_QS_ROOT: REPO_ROOT.replace(/\/$/, ''),
    OPSFLEET_QS_DATA: data,
    OPSFLEET_QS_HOST_ID: 'h',
    OPSFLEET_QS_NATS_URL: 'nats://127.0.0.1:4222',
    OPSFLEET_QS_NATS_CREDS: `${data}/agent-nats.creds`,
    OPSFLEET_QS_HTTP_LISTEN: '127.0.0.1:0',
    OPSFLEET_QS_RPC_LISTEN: '127.0.0.1:0',
    OPSFLEET_QS_DEMO_PORT: port,
  };
}
