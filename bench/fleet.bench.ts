/**
 * Fleet command wall time: a trivial playbook across 50 and 200 agents with --concurrency 50
 * through the real path (opsctl → controller → gRPC → agents → back), against the same trivial
 * command run by `ssh` to a loopback sshd in a bounded parallel loop (xargs -P 50), same run.
 * Agents share 4 processes (test/fixtures/agent-pool.ts), each a real gRPC server on its own port.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { api, runCommand, startController } from '../test/helpers/daemons.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { freePort } from '../test/helpers/ports.js';
import { Child, REPO_ROOT } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';
import { waitFor } from '../test/helpers/wait.js';
import type { Bench, BenchRow } from './types.js';

export async function sshBaseline(dir: string, n: number, parallel: number): Promise<{ seconds: number; ok: boolean; note: string }> {
  if (!existsSync('/usr/sbin/sshd')) return { seconds: NaN, ok: false, note: 'sshd not installed (apt-get install openssh-server)' };
  const port = await freePort();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'hostkey')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client')]);
  writeFileSync(join(dir, 'authorized_keys'), execFileSync('cat', [join(dir, 'client.pub')]));
  const cfg = join(dir, 'sshd_config');
  writeFileSync(
    cfg,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'hostkey')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'StrictModes no',
      'UsePAM no',
      // Every connection of the loop must be served: MaxStartups above the whole count (the
      // default 10:30:100 drops unauthenticated connections at random past 10), and no login
      // grace limit (default 120 s): on a loaded machine 50 parallel key exchanges take longer
      // than that and sshd cut half of the 200 connections, which then counted as timeouts.
      `MaxStartups ${n + parallel}:100:${n + parallel}`,
      `MaxSessions ${n}`,
      'LoginGraceTime 0',
      'UseDNS no',
    ].join('\n'),
  );
  execFileSync('mkdir', ['-p', '/run/sshd']);
  const sshd = new Child('/usr/sbin/sshd', ['-D', '-e', '-f', cfg]);
  try {
    await waitFor(() => sshd.stderr.includes('Server listening') || !sshd.running, { timeout: 10_000, what: 'sshd' });
    const user = execFileSync('id', ['-un']).toString().trim();
    const sshArgs = `-p ${port} -i ${join(dir, 'client')} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR ${user}@127.0.0.1 true`;
    const t0 = process.hrtime.bigint();
    // Each ssh reports its own failure instead of xargs aborting the whole loop on the first.
    const r = spawnSync('bash', ['-c', `seq ${n} | xargs -P ${parallel} -I{} sh -c 'ssh ${sshArgs} 2>/dev/null || echo FAIL'`], { encoding: 'utf8' });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const failures = (r.stdout.match(/FAIL/g) ?? []).length;
    return { seconds, ok: failures < n, note: `${n} × ssh true, ${parallel} in parallel${failures ? `, ${failures} connections failed` : ''}` };
  } finally {
    await sshd.stop();
  }
}

const bench: Bench = {
  name: 'fleet commands: trivial playbook across 50 and 200 agents vs an ssh loop',
  async run({ quick }) {
    const dir = tempDir('opsfleet-bench-fleet-');
    const nats = await NatsServer.start({ operator: false }); // plain NATS: comparable with the figures recorded before per-host JWT auth (its cost: bench/nats-auth)
    const pools: Child[] = [];
    const sizes = quick ? [50] : [50, 200];
    const total = Math.max(...sizes);
    const perPool = 50;
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    try {
      const ctl = await startController({
        natsUrl: nats.url,
        dir: dir.path,
        extraYaml: 'playbooks:\n  trivial:\n    steps:\n      - { run: "true" }\n',
      });
      for (let p = 0; p < total / perPool; p++) {
        const files: string[] = [];
        for (let i = 0; i < perPool; i++) {
          const id = `a${String(p * perPool + i).padStart(3, '0')}`;
          const f = join(dir.path, `${id}.yaml`);
          writeFileSync(
            f,
            [`host: { id: ${id}, tags: { pool: "${p}" } }`, `nats: { servers: ["${nats.url}"] }`, `state_dir: ${join(dir.path, id)}`, 'rpc: { listen: "127.0.0.1:0", insecure: true, allow_shell: true }', 'heartbeat_interval: 5s'].join('\n'),
          );
          files.push(f);
        }
        const child = new Child(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/fixtures/agent-pool.ts'), ...files]);
        pools.push(child);
        // Generous: on a loaded machine 50 agents in one process take minutes to start.
        await child.waitForLog((l) => l.msg === 'pool ready', 400_000, 'agent pool');
      }
      await waitFor(async () => (await api<Array<{ status: string }>>(ctl.url, '/api/v1/hosts')).filter((h) => h.status === 'online').length === total, { timeout: 300_000, what: 'agents online' });

      for (const n of sizes) {
        const target = n === total ? '*' : Array.from({ length: n / perPool }, (_, p) => `pool=${p}`).join(' or ');
        // Warm-up run opens the gRPC channels, as a long-lived controller has them open.
        await runCommand('opsctl', ['run', 'trivial', '--target', target, '--concurrency', '50', '--controller', ctl.url], {}, 120_000);
        const t0 = process.hrtime.bigint();
        const r = await runCommand('opsctl', ['run', 'trivial', '--target', target, '--concurrency', '50', '--json', '--controller', ctl.url], {}, 120_000);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const recap = JSON.parse(r.stdout) as { counts: Record<string, number>; runId: string };
        const run = await api<{ startedAt: string; endedAt: string }>(ctl.url, `/api/v1/runs/${recap.runId}`);
        const serverSeconds = (Date.parse(run.endedAt) - Date.parse(run.startedAt)) / 1000;
        rows.push({ name: `opsctl run trivial, ${n} agents, concurrency 50 (whole CLI)`, rate: n / seconds, unit: 'hosts', count: n, seconds, note: `ok=${recap.counts.ok}; controller-side ${serverSeconds.toFixed(3)} s` });
      }

      for (const n of sizes) {
        const ssh = await sshBaseline(tempDir('opsfleet-bench-ssh-').path, n, 50);
        if (ssh.ok) rows.push({ name: `ssh loop: ${n} × ssh 127.0.0.1 true, 50 parallel`, rate: n / ssh.seconds, unit: 'hosts', count: n, seconds: ssh.seconds, note: ssh.note });
        else notes.push(`ssh baseline for ${n}: ${ssh.note}`);
      }
      notes.push(`Load average (1/5/15 min) when the ssh loops ended: ${loadavg().map((x) => x.toFixed(1)).join(' / ')} on ${cpus().length} CPUs; the sshd serves every connection (MaxStartups above the count, LoginGraceTime 0), so a failed connection here is a real ssh failure, not a throttled one.`);
      const ours = rows.find((r) => r.count === total && r.name.startsWith('opsctl'));
      const theirs = rows.find((r) => r.count === total && r.name.startsWith('ssh'));
      notes.push('Goal: under 2 s for 200 agents and at least 10x faster than the ssh loop. Published here: 200 x ssh true with 50 in parallel 25.6 s; Ansible ad-hoc 12.5 s (50 hosts) and 47 s (200).');
      if (ours && theirs) notes.push(`Measured: ${ours.seconds.toFixed(2)} s vs ssh ${theirs.seconds.toFixed(2)} s for ${total} hosts: ${(theirs.seconds / ours.seconds).toFixed(1)}x faster. The CLI figure includes opsctl's own start-up (tsx) of roughly half a second.`);
      await ctl.child.stop();
    } finally {
      await Promise.all(pools.map((p) => p.stop(10_000)));
      await nats.dispose();
      dir.cleanup();
    }
    return { title: 'Fleet commands vs ssh loop', rows, notes };
  },
};

export default bench;
