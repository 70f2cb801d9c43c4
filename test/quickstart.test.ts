import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCommand } from './helpers/daemons.js';
import { Child } from './helpers/process.js';
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

describe('scripts/quickstart.sh', () => {
  const tmp = tempDir('opsfleet-quickstart-');
  const pids: number[] = [];
  after(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    tmp.cleanup();
  });

  it('starts nats-server, controller and agent, shows the host online, and stops all three in order on SIGINT with exit 0', async () => {
    const data = join(tmp.path, 'data');
    // --no-typecheck: the suite type-checks once in scripts/test.sh; port 0: never assume 8080 is free.
    // Its own config home: quickstart logs opsctl in with the bootstrap token, as it does for a newcomer.
    const home = join(tmp.path, 'home');
    const qs = new Child('bash', ['scripts/quickstart.sh', '--no-typecheck'], { env: { OPSFLEET_QUICKSTART_DATA: data, OPSFLEET_QUICKSTART_HTTP_PORT: '0', XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: '' } });
    try {
      await waitFor(
        () => {
          if (!qs.running) throw new Error(`quickstart exited (${qs.exitCode})\n${qs.stdout}\n${qs.stderr}`);
          return qs.stdout.includes('Press Ctrl-C');
        },
        { timeout: 120_000, interval: 200, what: 'quickstart ready' },
      );
      const out = qs.stdout;
      const url = /export OPSFLEET_CONTROLLER=(\S+)/.exec(out)![1]!;
      const m = /nats-server \(pid (\d+)\).*controller \(pid (\d+)\).*agent "([^"]+)" \(pid (\d+)\)/.exec(out)!;
      const [natsPid, controllerPid, hostId, agentPid] = [Number(m[1]), Number(m[2]), m[3]!, Number(m[4])];
      pids.push(agentPid, controllerPid, natsPid);
      assert.ok([natsPid, controllerPid, agentPid].every(alive));
      assert.ok(existsSync(join(data, 'controller.yaml')) && existsSync(join(data, 'agent.yaml')) && existsSync(join(data, 'nats')));

      // The README's commands, as typed: no token on the command line.
      const hosts = await runCommand('opsctl', ['hosts', '--json'], { OPSFLEET_CONTROLLER: url, XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: '' });
      assert.equal(hosts.code, 0, hosts.stderr);
      const host = (JSON.parse(hosts.stdout) as Array<{ id: string; status: string; tags: Record<string, string> }>).find((h) => h.id === hostId);
      assert.equal(host?.status, 'online');
      assert.equal(host?.tags.role, 'quickstart');
      assert.match(out, /opsctl logged in to http:\/\/127\.0\.0\.1:\d+ \(admin \(admin\)/);
      const status = await runCommand('opsctl', ['--controller', url, 'host', 'status', hostId, '--json'], { XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: '' });
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { natsConnected: boolean }).natsConnected, true);

      qs.kill('SIGINT');
      const { code } = await qs.exited;
      assert.equal(code, 0, qs.tail());
      for (const pid of [natsPid, controllerPid, agentPid]) assert.equal(alive(pid), false, `pid ${pid} still running`);
      const order = ['stopping agent', 'stopping controller', 'stopping nats-server'].map((s) => qs.stdout.indexOf(s));
      assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), `stop order: ${qs.stdout.slice(-600)}`);
      assert.match(qs.stdout, /agent exited \(0\)[\s\S]*controller exited \(0\)[\s\S]*nats-server exited \(0\)/);
    } finally {
      await qs.stop(20_000);
    }
  });
});
