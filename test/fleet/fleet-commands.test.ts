import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { api, createToken, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { Child, processAlive, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface RecapJson {
  runId: string;
  status: string;
  counts: Record<string, number>;
  hosts: Record<string, { status: string; error: string; steps: Array<{ name: string; status: string; data?: unknown; error?: string }>; output: string }>;
}

describe('fleet commands over gRPC', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let ctl: ControllerProc;
  let pool: Child;
  const singles: AgentProc[] = [];
  const pidFile = join(dir.path, 'hang.pid');
  const POOL = 20;

  const playbooks = `
playbooks:
  inspect-basic:
    description: Disk, memory, load and a shell step
    timeout: 30s
    steps:
      - builtin: disk_usage
      - builtin: memory
      - builtin: load
      - builtin: listening_ports
      - { name: greet, run: "echo hello-from-shell" }
  slow:
    timeout: 30s
    steps:
      - { run: "sleep 0.4; echo slow-done" }
  long:
    timeout: 60s
    steps:
      - { run: "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.5; done" }
  hang:
    timeout: 30s
    steps:
      - { name: hang, run: "sleep 300 & echo $! > ${pidFile}; sleep 300", timeout: 700ms }
  chatty:
    steps:
      - { run: "head -c 200000 /dev/zero | tr '\\\\0' x" }
runs:
  max_output_bytes: 1KiB
`;

  // Runs go out under a token named "tester": the actor in runs and the audit is the token's name.
  let testerToken = '';
  async function opsctl(args: string[]) {
    return runCommand('opsctl', [...args, '--controller', ctl.url], { OPSFLEET_TOKEN: testerToken }, 60_000);
  }

  before(async () => {
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, extraYaml: playbooks });
    testerToken = await createToken(ctl.url, { name: 'tester', role: 'admin' });
    const files: string[] = [];
    for (let i = 1; i <= POOL; i++) {
      const id = `${i % 2 ? 'web' : 'db'}-${String(i).padStart(2, '0')}`;
      const f = join(dir.path, `pool-${id}.yaml`);
      // Operator-mode NATS (the harness default): each pooled agent gets its own per-host user.
      const creds = nats.authority ? `, creds_file: ${JSON.stringify((await nats.agentCreds(id)).file)}` : '';
      writeFileSync(
        f,
        [
          `host: { id: ${id}, tags: { role: ${i % 2 ? 'web' : 'db'}, env: prod } }`,
          `nats: { servers: ["${nats.url}"]${creds} }`,
          `state_dir: ${join(dir.path, `state-${id}`)}`,
          'rpc: { listen: "127.0.0.1:0", insecure: true, allow_shell: true }',
          'heartbeat_interval: 1s',
        ].join('\n'),
      );
      files.push(f);
    }
    // The pool runs many agents in one process (memory on a loaded machine); they stay plaintext
    // agents, while the single agents below go through enrollment and mTLS like real hosts.
    pool = new Child(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/fixtures/agent-pool.ts'), ...files]);
    await pool.waitForLog((l) => l.msg === 'pool ready', 60_000, 'agent pool');
    singles.push(await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'victim', tags: { role: 'web', env: 'prod' }, heartbeat: '1s', rpcExtra: 'allow_shell: true' }));
    singles.push(await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'locked', tags: { role: 'locked' }, heartbeat: '1s', rpcExtra: 'allow_playbooks: [inspect-basic, slow]' }));
    await waitFor(async () => (await api<Array<{ status: string }>>(ctl.url, '/api/v1/hosts')).filter((h) => h.status === 'online').length === POOL + 2, { timeout: 30_000, what: 'all agents online' });
  });

  after(async () => {
    await Promise.all(singles.map((a) => a.child.stop()));
    await pool?.stop(10_000);
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('runs inspect-basic on exactly the role=web hosts; --json gives per-host structured results', async () => {
    const r = await opsctl(['run', 'inspect-basic', '--target', 'role=web and not victim', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const recap = JSON.parse(r.stdout) as RecapJson;
    const expected = Array.from({ length: POOL }, (_, k) => k + 1).filter((i) => i % 2).map((i) => `web-${String(i).padStart(2, '0')}`);
    assert.deepEqual(Object.keys(recap.hosts).sort(), expected);
    assert.deepEqual(recap.counts, { ok: expected.length, failed: 0, refused: 0, unreachable: 0, skipped: 0 });
    const one = recap.hosts['web-01']!;
    assert.deepEqual(one.steps.map((s) => s.name), ['disk_usage', 'memory', 'load', 'listening_ports', 'greet']);
    const disks = one.steps[0]!.data as Array<{ mount: string; used_percent: number }>;
    assert.ok(disks.some((d) => d.mount === '/' && d.used_percent > 0));
    const mem = one.steps[1]!.data as { total_bytes: number };
    assert.ok(mem.total_bytes > 0);
    const ports = one.steps[3]!.data as Array<{ proto: string; port: number }>;
    assert.ok(ports.some((p) => p.proto.startsWith('tcp') && p.port === Number(new URL(ctl.url).port)), 'the controller API port should be listed');
    assert.match(one.output, /hello-from-shell/);
  });

  it('streams live output with host prefixes and prints a recap', async () => {
    const r = await opsctl(['run', 'slow', '--target', 'web-01,db-02']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^web-01 \| slow-done$/m);
    assert.match(r.stdout, /^db-02  \| slow-done$/m);
    assert.match(r.stdout, /RUN RECAP/);
    assert.match(r.stdout, /ok=2 failed=0 unreachable=0 skipped=0/);
  });

  it('--concurrency 2 never has more than 2 hosts running at once (agents\' own timestamps)', async () => {
    const r = await opsctl(['run', 'slow', '--target', 'role=db', '--concurrency', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { runId } = JSON.parse(r.stdout) as RecapJson;
    const run = await api<{ hosts: Array<{ hostId: string; agentStartedMs: number; agentEndedMs: number }> }>(ctl.url, `/api/v1/runs/${runId}`);
    assert.equal(run.hosts.length, POOL / 2);
    const edges = run.hosts.flatMap((h) => [[h.agentStartedMs, 1], [h.agentEndedMs, -1]] as Array<[number, number]>).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let cur = 0;
    let peak = 0;
    for (const [, d] of edges) peak = Math.max(peak, (cur += d));
    assert.ok(peak <= 2, `peak concurrency ${peak}`);
    assert.equal(peak, 2, 'the window should be used');
  });

  it('an agent SIGKILLed during a run is reported unreachable/failed, the others finish, exit 1', async () => {
    const run = new Child(process.execPath, [join(REPO_ROOT, 'bin/opsctl.js'), 'run', 'long', '--target', 'victim,web-03,web-05', '--controller', ctl.url], { env: { OPSFLEET_TOKEN: testerToken } });
    try {
      await waitFor(() => /^victim +\| tick 2$/m.test(run.stdout), { timeout: 20_000, what: 'victim running' });
      const victim = singles[0]!;
      victim.child.kill('SIGKILL');
      await run.exited;
      assert.equal(run.exitCode, 1, run.tail());
      assert.match(run.stdout, /victim +│ (unreachable|failed) /);
      assert.match(run.stdout, /web-03 +│ ok /);
      assert.match(run.stdout, /ok=2 failed=\d unreachable=\d skipped=0/);
    } finally {
      run.kill('SIGKILL');
    }
    // The dead host is offline in the next run and answered at once, not after a timeout.
    await waitFor(async () => (await api<Array<{ id: string; status: string }>>(ctl.url, '/api/v1/hosts')).find((h) => h.id === 'victim')?.status === 'offline', { timeout: 15_000, what: 'victim offline' });
    const t0 = Date.now();
    const again = await opsctl(['run', 'slow', '--target', 'victim', '--json']);
    assert.equal(again.code, 1);
    assert.equal((JSON.parse(again.stdout) as RecapJson).hosts.victim!.status, 'unreachable');
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('a step over its timeout is killed with its children and reported as timed out', async () => {
    const r = await opsctl(['run', 'hang', '--target', 'web-07', '--json']);
    assert.equal(r.code, 1);
    const h = (JSON.parse(r.stdout) as RecapJson).hosts['web-07']!;
    assert.equal(h.status, 'timeout');
    assert.equal(h.steps[0]!.status, 'timeout');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    await waitFor(() => !processAlive(pid), { timeout: 5000, what: `background child ${pid} killed` });
  });

  it('Ctrl-C on opsctl cancels the run and kills the step on the agent', async () => {
    writeFileSync(pidFile, '');
    const run = new Child(process.execPath, [join(REPO_ROOT, 'bin/opsctl.js'), 'exec', '--target', 'web-09', '--controller', ctl.url, '--', `sleep 300 & echo $! > ${pidFile}; wait`], { env: { OPSFLEET_TOKEN: testerToken } });
    try {
      const pid = await waitFor(() => Number(existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '') || undefined, { timeout: 20_000, what: 'step started' });
      run.kill('SIGINT');
      await run.exited;
      await waitFor(() => !processAlive(pid), { timeout: 10_000, what: 'cancelled step killed on the agent' });
      assert.equal(run.exitCode, 1);
    } finally {
      run.kill('SIGKILL');
    }
  });

  it('the agent refuses what its own config disallows, whatever the controller sends', async () => {
    const shell = await opsctl(['run', 'slow', '--target', 'locked', '--json']);
    assert.equal(shell.code, 1);
    const s = (JSON.parse(shell.stdout) as RecapJson).hosts.locked!;
    assert.equal(s.status, 'refused');
    assert.match(s.steps[0]!.error!, /shell steps are disabled on this agent/);
    const notAllowed = await opsctl(['run', 'hang', '--target', 'locked', '--json']);
    assert.match((JSON.parse(notAllowed.stdout) as RecapJson).hosts.locked!.error, /not in this agent's rpc\.allow_playbooks/);
    const builtins = await opsctl(['run', 'inspect-basic', '--target', 'locked', '--json']);
    const b = (JSON.parse(builtins.stdout) as RecapJson).hosts.locked!;
    assert.deepEqual(b.steps.map((x) => x.status), ['ok', 'ok', 'ok', 'ok', 'refused']);
  });

  it('--max-fail stops launching after too many failures (the rest are skipped); --batch runs batches one after another', async () => {
    const r = await opsctl(['run', 'slow', '--target', 'locked or web-11 or web-13', '--concurrency', '1', '--max-fail', '0', '--json']);
    assert.equal(r.code, 1);
    const recap = JSON.parse(r.stdout) as RecapJson;
    assert.equal(recap.hosts.locked!.status, 'refused');
    assert.equal(recap.hosts['web-11']!.status, 'skipped');
    assert.equal(recap.hosts['web-13']!.status, 'skipped');
    // The refusal is the agent's policy at work: counted as refused, not as a failed host.
    assert.deepEqual(recap.counts, { ok: 0, failed: 0, refused: 1, unreachable: 0, skipped: 2 });

    const b = await opsctl(['run', 'slow', '--target', 'db-02,db-04,db-06,db-08', '--batch', '50%', '--json']);
    assert.equal(b.code, 0, b.stderr);
    const run = await api<{ hosts: Array<{ hostId: string; agentStartedMs: number; agentEndedMs: number }> }>(ctl.url, `/api/v1/runs/${(JSON.parse(b.stdout) as RecapJson).runId}`);
    const at = new Map(run.hosts.map((h) => [h.hostId, h]));
    const firstBatchEnd = Math.max(at.get('db-02')!.agentEndedMs, at.get('db-04')!.agentEndedMs);
    assert.ok(at.get('db-06')!.agentStartedMs >= firstBatchEnd && at.get('db-08')!.agentStartedMs >= firstBatchEnd, 'second batch started before the first ended');
  });

  it('output is bounded by runs.max_output_bytes', async () => {
    const r = await opsctl(['run', 'chatty', '--target', 'db-04', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { runId } = JSON.parse(r.stdout) as RecapJson;
    const run = await api<{ hosts: Array<{ output: string; outputTruncated: boolean; steps: Array<{ outputBytes: number }> }> }>(ctl.url, `/api/v1/runs/${runId}`);
    assert.ok(run.hosts[0]!.output.length <= 1024);
    assert.equal(run.hosts[0]!.outputTruncated, true);
    assert.equal(run.hosts[0]!.steps[0]!.outputBytes, 200_000);
  });

  it('bad input: unknown playbook and bad target exit 2, no matching hosts exit 1, each with a clear message', async () => {
    const unknown = await opsctl(['run', 'nope', '--target', '*']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /OPS_ERR_PLAYBOOK_UNKNOWN: unknown playbook "nope"; configured: .*inspect-basic/);
    const bad = await opsctl(['run', 'slow', '--target', 'role=web and (env=prod']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /OPS_ERR_TARGET_SYNTAX: .*expected "\)" at column 23/);
    const none = await opsctl(['run', 'slow', '--target', 'role=nothing']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no host matches target "role=nothing"/);
    const dry = await opsctl(['run', 'slow', '--target', 'web-0*', '--dry-run']);
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, /5 host\(s\) match "web-0\*"/);
  });

  it('runs are stored and the audit chain verifies; editing one row in the SQLite file makes verify fail naming it', async () => {
    const runs = await opsctl(['runs', '--json']);
    const list = JSON.parse(runs.stdout) as Array<{ id: string; actor: string; playbook: string }>;
    assert.ok(list.length >= 8);
    assert.ok(list.every((r) => r.actor === 'tester'));
    const show = await opsctl(['runs', 'show', list.at(-1)!.id, '--host', 'web-01']);
    assert.equal(show.code, 0);
    assert.match(show.stdout, /== web-01: ok/);
    const ok = await opsctl(['audit', 'verify']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /audit log ok: \d+ rows verified/);
    const db = new Database(join(dir.path, 'controller-data', 'controller.db'));
    try {
      db.exec('DROP TRIGGER audit_log_no_update');
      db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE id = 4").run();
    } finally {
      db.close();
    }
    const tampered = await opsctl(['audit', 'verify']);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stderr, /audit log TAMPERED at row 4: row 4 was modified \(hash mismatch\)/);
  });
});
