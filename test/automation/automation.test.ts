import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { freePort } from '../helpers/ports.js';
import { Child, processAlive, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const SERVER = join(REPO_ROOT, 'test/health/fixtures/http-server.mjs');


describe('platform: scheduled tasks and self-healing policies', () => {
  const dir = tempDir();
  const tasksDir = join(dir.path, 'tasks.d');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc;
  let hook: Server;
  const hookBodies: string[] = [];
  const apps: Array<{ port: number; pidFile: string }> = [];
  const started: Child[] = [];

  const appPid = (i: number) => Number(readFileSync(apps[i]!.pidFile, 'utf8').trim());

  before(async () => {
    mkdirSync(tasksDir);
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        hookBodies.push(body);
        res.end('{}');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const hookPort = (hook.address() as { port: number }).port;
    for (let i = 0; i < 2; i++) {
      const app = { port: await freePort(), pidFile: join(dir.path, `app${i}.pid`) };
      apps.push(app);
      started.push(new Child(process.execPath, [SERVER, '--port', String(app.port), '--pid-file', app.pidFile]));
      await waitFor(() => {
        try {
          return readFileSync(app.pidFile, 'utf8').length > 0;
        } catch {
          return false;
        }
      }, { what: `app ${i} listening` });
    }
    writeFileSync(
      join(tasksDir, 'main.yaml'),
      `tasks:
  - name: tick
    schedule: "*/2 * * * * *"
    target: "*"
    playbook: quick
  - name: broken
    schedule: "0 0 1 1 *"
    target: "role=nothing"
    playbook: quick
    on_failure: { notify: [hook] }
policies:
  - name: restart-app
    when: { alertname: CheckDown, check: app-http }
    run: { playbook: restart-app, on: alert_host }
    verify: { alert_resolves_within: 15s }
    max_attempts: 2
    cooldown: 1m
  - name: cannot-fix
    when: { alertname: CheckDown, check: "~app2-.*" }
    run: { playbook: noop }
    verify: { alert_resolves_within: 1500ms }
    max_attempts: 2
    cooldown: 1h
    escalate: { notify: [hook] }
`,
    );
    nats = await NatsServer.start();
    ctl = await startController({
      natsUrl: nats.url,
      dir: dir.path,
      extraYaml: `tasks_dir: ${tasksDir}
scheduler: { tick: 200ms }
playbooks:
  quick: { steps: [ { run: "echo tick" } ] }
  restart-app: { steps: [ { run: "setsid ${process.execPath} ${SERVER} --port ${apps[0]!.port} --pid-file ${apps[0]!.pidFile} >/dev/null 2>&1 < /dev/null &" } ] }
  noop: { steps: [ { run: "true" } ] }
alerting:
  group_wait: 100ms
  group_interval: 300ms
  repeat_interval: 1h
  receivers: [ { name: hook, type: webhook, url: "http://127.0.0.1:${hookPort}/hook" } ]
  routes: [ { receivers: [hook] } ]`,
    });
    agent = await startAgent({
      natsUrl: nats.url,
      dir: dir.path,
      id: 'app-host',
      heartbeat: '500ms',
      rpcExtra: 'allow_shell: true',
      extraYaml: `checks:
  - { name: app-http, type: http, url: "http://127.0.0.1:${apps[0]!.port}/healthz", interval: 300ms, timeout: 1s, failures: 1, successes: 1 }
  - { name: app2-http, type: http, url: "http://127.0.0.1:${apps[1]!.port}/healthz", interval: 300ms, timeout: 1s, failures: 1, successes: 1 }`,
    });
    await waitFor(async () => (await api<Array<{ id: string; status: string }>>(ctl.url, '/api/v1/hosts')).some((h) => h.id === 'app-host' && h.status === 'online'), { what: 'agent online' });
  });

  after(async () => {
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    for (const c of started) c.kill('SIGKILL');
    for (let i = 0; i < apps.length; i++) {
      try {
        process.kill(appPid(i), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    hook?.close();
    dir.cleanup();
  });

  it('runs a task on its schedule and lists it with its next run and last result', async () => {
    const history = await waitFor(async () => {
      const h = await api<Array<{ status: string; runId: string; trigger: string }>>(ctl.url, '/api/v1/tasks/tick/history');
      return h.filter((r) => r.status === 'ok').length >= 2 ? h : undefined;
    }, { timeout: 20_000, what: 'two scheduled runs' });
    assert.ok(history.filter((r) => r.status === 'ok').every((r) => r.runId.length > 0 && r.trigger === 'schedule'), JSON.stringify(history));
    // Measured from before the call: opsctl's own start-up under load must not age the answer.
    const asked = Date.now();
    const r = await runCommand('opsctl', ['tasks', '--json', '--controller', ctl.url]);
    const tasks = JSON.parse(r.stdout) as Array<{ name: string; nextRun: string; last: { status: string } | null }>;
    const tick = tasks.find((t) => t.name === 'tick')!;
    assert.ok(Date.parse(tick.nextRun) > asked - 2000, `next run ${tick.nextRun} is in the past (asked at ${new Date(asked).toISOString()})`);
    assert.equal(tick.last?.status, 'ok');
    const runs = await api<Array<{ actor: string; playbook: string }>>(ctl.url, '/api/v1/runs');
    assert.ok(runs.some((x) => x.actor === 'task:tick' && x.playbook === 'quick'), 'task runs are stored as runs with their actor');
  });

  it('tasks run NAME runs now; a failing task notifies its on_failure receivers', async () => {
    const r = await runCommand('opsctl', ['tasks', 'run', 'broken', '--controller', ctl.url]);
    assert.equal(r.code, 0, r.stderr);
    const h = await waitFor(async () => (await api<Array<{ status: string; trigger: string; reason: string }>>(ctl.url, '/api/v1/tasks/broken/history')).find((x) => x.trigger === 'manual' && x.status !== 'running'), { what: 'manual run finished' });
    assert.equal(h.status, 'error');
    assert.match(h.reason, /no host matches target "role=nothing"/);
    await waitFor(() => hookBodies.some((b) => b.includes('TaskFailed') && b.includes('broken')), { what: 'TaskFailed notification' });
    const missing = await runCommand('opsctl', ['tasks', 'run', 'nope', '--controller', ctl.url]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /OPS_ERR_TASK_NOT_FOUND/);
  });

  it('self-heals: the alert fires, the policy restarts the service through a playbook, the alert resolves, the chain is recorded', async () => {
    const before = appPid(0);
    process.kill(before, 'SIGKILL');
    const rows = await waitFor(async () => {
      const r = await api<Array<{ policy: string; status: string; run_id: string; host: string }>>(ctl.url, '/api/v1/remediations?policy=restart-app');
      return r.some((x) => x.status === 'succeeded') ? r : undefined;
    }, { timeout: 40_000, interval: 200, what: 'remediation succeeded' });
    const ok = rows.find((x) => x.status === 'succeeded')!;
    assert.equal(ok.host, 'app-host');
    assert.ok(processAlive(appPid(0)) && appPid(0) !== before, 'a new server process runs');
    const alert = await waitFor(async () => (await api<Array<{ labels: Record<string, string>; status: string; annotations: Record<string, string> }>>(ctl.url, '/api/v1/alerts?state=all')).find((a) => a.labels.check === 'app-http' && a.status === 'resolved'), { what: 'alert resolved' });
    assert.match(alert.annotations.remediation ?? '', /ran restart-app on app-host \(attempt 1\).*recovered/);
    await waitFor(() => hookBodies.some((b) => b.includes('"resolved"') && b.includes('app-http') && b.includes('ran restart-app')), { timeout: 15_000, what: 'resolved notification saying what was done' });
    const audit = await api<Array<{ action: string; actor: string }>>(ctl.url, '/api/v1/audit?limit=500');
    const chain = audit.filter((x) => x.actor === 'policy:restart-app').map((x) => x.action).reverse();
    assert.deepEqual(chain.slice(0, 1), ['policy.dispatch']);
    assert.ok(chain.includes('policy.succeeded'), chain.join(','));
  });

  it('a service that cannot be fixed: attempts stop at max_attempts and the escalation goes out exactly once', async () => {
    process.kill(appPid(1), 'SIGKILL');
    await waitFor(async () => (await api<Array<{ status: string }>>(ctl.url, '/api/v1/remediations?policy=cannot-fix')).some((x) => x.status === 'escalated'), { timeout: 40_000, what: 'escalated' });
    // Give it time to (wrongly) try again.
    const t0 = Date.now();
    await waitFor(() => Date.now() - t0 > 4000, { timeout: 6000 });
    const rows = await api<Array<{ status: string; attempt: number }>>(ctl.url, '/api/v1/remediations?policy=cannot-fix');
    assert.equal(rows.filter((x) => x.status === 'escalated').length, 1);
    assert.equal(rows.filter((x) => x.status === 'not_resolved').length, 2);
    assert.equal(Math.max(...rows.map((x) => x.attempt)), 2);
    assert.equal(hookBodies.filter((b) => b.includes('RemediationFailed')).length, 1);
    const hist = await runCommand('opsctl', ['policies', 'history', 'cannot-fix', '--controller', ctl.url]);
    assert.match(hist.stdout, /escalated/);
  });

  it('pause is a kill switch', async () => {
    const p = await runCommand('opsctl', ['policies', 'pause', '--controller', ctl.url]);
    assert.equal(p.code, 0);
    const list = await api<{ paused: boolean }>(ctl.url, '/api/v1/policies');
    assert.equal(list.paused, true);
    const r = await runCommand('opsctl', ['policies', 'resume', '--controller', ctl.url]);
    assert.match(r.stdout, /all policies resumed/);
  });

  it('a bad tasks file is rejected with FILE:LINE:COL (reload API and SIGHUP) and the running set stays', async () => {
    const bad = join(tasksDir, 'zz-bad.yaml');
    writeFileSync(
      bad,
      `tasks:
  - name: nightly
    schedule: "0 25 * * *"
    target: "role=web and ("
    playbook: nosuch
    on_failure: { notify: [nobody] }
`,
    );
    try {
      const r = await runCommand('opsctl', ['tasks', 'reload', '--controller', ctl.url]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`${bad}:3:15 tasks\\[0\\]\\.schedule: invalid cron "0 25 \\* \\* \\*"`));
      assert.match(r.stderr, new RegExp(`${bad}:4:13 tasks\\[0\\]\\.target: target "role=web and \\(": `));
      assert.match(r.stderr, new RegExp(`${bad}:5:15 tasks\\[0\\]\\.playbook: unknown playbook "nosuch"`));
      assert.match(r.stderr, new RegExp(`${bad}:6:28 tasks\\[0\\]\\.on_failure\\.notify\\[0\\]: unknown receiver "nobody"`));
      ctl.child.kill('SIGHUP');
      await ctl.child.waitForLog((l) => l.msg === 'tasks_dir rejected; running tasks and policies kept');
      const tasks = await api<Array<{ name: string }>>(ctl.url, '/api/v1/tasks');
      assert.deepEqual(tasks.map((t) => t.name).sort(), ['broken', 'tick']);
    } finally {
      rmSync(bad);
    }
    const ok = await runCommand('opsctl', ['tasks', 'reload', '--controller', ctl.url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /reloaded: 2 task\(s\), 2 policy\(ies\)/);
  });

  it('a tasks file emptied during SIGHUP keeps its previous tasks and warns; --force accepts it', async () => {
    const extra = join(tasksDir, 'extra.yaml');
    writeFileSync(extra, 'tasks:\n  - { name: extra-one, schedule: "0 0 1 1 *", target: "*", playbook: quick }\n');
    try {
      const ok = await runCommand('opsctl', ['tasks', 'reload', '--controller', ctl.url]);
      assert.match(ok.stdout, /reloaded: 3 task\(s\)/, ok.stderr);
      writeFileSync(extra, ''); // 0 bytes, as an editor leaves it mid-write
      ctl.child.kill('SIGHUP');
      const warn = await ctl.child.waitForLog((l) => l.msg === 'tasks file lost all its entries; previous entries kept (reload with force to accept)');
      assert.equal(warn.file, extra);
      const names = (await api<Array<{ name: string }>>(ctl.url, '/api/v1/tasks')).map((t) => t.name).sort();
      assert.deepEqual(names, ['broken', 'extra-one', 'tick'], 'the emptied file keeps its task');
      const again = await runCommand('opsctl', ['tasks', 'reload', '--controller', ctl.url]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`WARNING ${extra} lost all its entries: kept its previous 1 task\\(s\\)`));
      const forced = await runCommand('opsctl', ['tasks', 'reload', '--force', '--controller', ctl.url]);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stdout, /reloaded: 2 task\(s\)/);
      assert.doesNotMatch(forced.stdout, /WARNING/);
      assert.deepEqual((await api<Array<{ name: string }>>(ctl.url, '/api/v1/tasks')).map((t) => t.name).sort(), ['broken', 'tick']);
    } finally {
      rmSync(extra, { force: true });
    }
  });

  it('a controller started with a bad tasks_dir refuses to start with exit 2 and the problem lines', async () => {
    const badDir = join(dir.path, 'bad-tasks');
    mkdirSync(badDir);
    writeFileSync(join(badDir, 't.yaml'), 'tasks:\n  - { name: x, schedule: "nope", target: "*", playbook: quick }\n');
    const cfg = join(dir.path, 'bad-controller.yaml');
    writeFileSync(cfg, `nats: { servers: ["${nats.url}"] }\ndata_dir: ${join(dir.path, 'bad-data')}\nhttp: { listen: "127.0.0.1:0" }\ntasks_dir: ${badDir}\nplaybooks: { quick: { steps: [ { run: "true" } ] } }\n`);
    const r = await runCommand('opsfleet-controller', ['--config', cfg]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /t\.yaml:2:26 tasks\[0\]\.schedule: invalid cron "nope"/);
  });
});
