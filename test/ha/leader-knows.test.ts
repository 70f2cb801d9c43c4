import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, runCommand, startController, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from '../alerting/fakes.js';
import { postJson } from '../alerting/harness.js';

// Issue 18, what a new leader knows: two real controllers (the merged HA: lease, forwarding,
// control log), the leader killed with SIGKILL. The standby must hold the alerts only the
// leader was told (a one-off API push, a Grafana webhook), continue the self-heal flap guard
// where the leader left it, and run the leader's task set although its own tasks_dir is empty.

interface Health {
  role?: string;
  controlLog?: { running: boolean; outbox: number };
  tasks?: { hash: string; source: string; origin: string; drift: boolean };
}
interface AlertView {
  fingerprint: string;
  status: string;
  labels: Record<string, string>;
}
interface Remediation {
  fingerprint: string;
  host: string;
  status: string;
  attempt: number;
  detail: string;
}

const TASKS = `tasks:
  - { name: yearly-report, schedule: "0 0 1 1 *", target: "*", playbook: fix }
policies:
  - name: restart-web
    when: { alertname: WebDown }
    run: { playbook: fix }
    max_attempts: 2
    verify: { alert_resolves_within: 1s }
    cooldown: 1h
    escalate: { notify: [hook] }
`;

describe('what a new leader knows: pushed alerts, the flap guard, the task set (real processes, kill -9)', () => {
  const dir = tempDir('opsfleet-leader-knows-');
  const hook = new FakeWebhook();
  let nats: NatsServer;
  let a: ControllerProc | undefined;
  let b: ControllerProc | undefined;
  const ports: Record<string, number> = {};

  const yaml = (id: string) =>
    [
      `ha: { enabled: true, id: ${id}, advertise_url: "http://127.0.0.1:${ports[id]}" }`,
      `stream: { consumer: opsfleet-controller-${id}, max_bytes: 256MiB }`,
      `tasks_dir: ${join(dir.path, id, 'tasks')}`,
      'scheduler: { tick: 200ms }',
      'playbooks:',
      '  fix: { steps: [ { run: "true" } ] }',
      'alerting:',
      '  group_wait: 300ms',
      '  group_interval: 1s',
      '  repeat_interval: 1h',
      '  resolve_timeout: 1h',
      '  group_by: [alertname, host]',
      '  receivers:',
      `    - { name: hook, type: webhook, url: "${hook.url}/h" }`,
      '  routes:',
      '    - { receivers: [hook] }',
    ].join('\n');
  const caOf = () => join(dir.path, 'a', 'controller-data', 'pki');
  const start = (id: string) =>
    startController({ natsUrl: nats.url, dir: join(dir.path, id), listen: `127.0.0.1:${ports[id]}`, extraYaml: id === 'a' ? yaml(id) : `${yaml(id)}\npki: { ca_cert: ${join(caOf(), 'ca.crt')}, ca_key: ${join(caOf(), 'ca.key')} }` });
  const health = (c: ControllerProc) => api<Health>(c.url, '/healthz');
  const alerts = (c: ControllerProc, state = 'all') => api<AlertView[]>(c.url, `/api/v1/alerts?state=${state}`);
  const remediations = (c: ControllerProc) => api<Remediation[]>(c.url, '/api/v1/remediations?policy=restart-web');
  type Body = { groups: Array<{ status: string; alerts: Array<{ status: string; labels: Record<string, string> }> }> };
  /** What the hook was told, as `alertname host status` per alert. */
  const told = () => hook.accepted().flatMap((r) => (r.body as Body).groups.flatMap((g) => g.alerts.map((x) => `${x.labels.alertname} ${x.labels.host ?? ''} ${x.status}`)));
  const count = (line: string) => told().filter((l) => l === line).length;

  before(async () => {
    await hook.start();
    nats = await NatsServer.start();
    mkdirSync(join(dir.path, 'a', 'tasks'), { recursive: true });
    mkdirSync(join(dir.path, 'b', 'tasks'), { recursive: true });
    writeFileSync(join(dir.path, 'a', 'tasks', 'web.yaml'), TASKS);
    [ports.a, ports.b] = (await freePorts(2)) as [number, number];
    a = await start('a');
    await waitFor(async () => (await health(a!)).role === 'leader', { timeout: 30_000, what: 'A leads' });
    await waitFor(() => existsSync(join(caOf(), 'ca.key')), { what: "a's fleet CA" });
    b = await start('b');
    await waitFor(async () => (await health(a!)).controlLog?.running === true && (await health(b!)).controlLog?.running === true, { timeout: 30_000, what: 'both control logs running' });
  });

  after(async () => {
    await a?.child.stop();
    await b?.child.stop();
    await nats?.dispose();
    await hook.stop();
    dir.cleanup();
  });

  it('after A is killed, B holds and resolves the alerts only A was told, continues the flap guard and runs the fleet task set', { timeout: 150_000 }, async () => {
    // The task set: B's tasks_dir is empty; it takes A's set from the control log (drift shown).
    await waitFor(async () => (await health(b!)).tasks?.origin === 'a', { timeout: 20_000, what: "A's task set on B" });
    const setB = (await health(b!)).tasks!;
    assert.equal(setB.source, 'replicated');
    assert.equal(setB.drift, true);
    assert.equal(setB.hash, (await health(a!)).tasks!.hash);

    // Alerts only A is told: a one-off API push and a Grafana webhook (neither sends again).
    assert.equal((await postJson(`${a!.url}/api/v1/alerts`, [{ labels: { alertname: 'WebDown', host: 'ghost-1' }, resolveTimeoutS: 3600 }])).status, 200);
    const grafana = { alerts: [{ status: 'firing', labels: { alertname: 'GrafanaLatency', host: 'lb-1' }, valueString: 'p99=2.1s' }] };
    // Sent to the standby: forwarded to the leader like every mutation (only A notifies it).
    assert.equal((await postJson(`${b!.url}/api/v1/intake/grafana`, grafana)).status, 200);
    await waitFor(() => count('WebDown ghost-1 firing') === 1 && count('GrafanaLatency lb-1 firing') === 1, { timeout: 20_000, what: 'A notifies both' });
    // A's policy tries twice (ghost-1 is no host: each run fails) and escalates once.
    await waitFor(async () => (await remediations(a!)).some((r) => r.status === 'escalated'), { timeout: 30_000, what: 'A escalates' });
    await waitFor(() => count('RemediationFailed ghost-1 firing') === 1, { timeout: 20_000, what: 'the escalation sent' });
    const fp1 = (await alerts(a!)).find((x) => x.labels.host === 'ghost-1')!.fingerprint;
    // Everything A decided is out of its outbox and applied on B before the kill.
    await waitFor(async () => (await health(a!)).controlLog?.outbox === 0, { what: "A's outbox empty" });
    await waitFor(async () => {
      const onB = await alerts(b!, 'firing');
      return onB.some((x) => x.fingerprint === fp1) && onB.some((x) => x.labels.alertname === 'GrafanaLatency');
    }, { timeout: 20_000, what: 'the pushed alerts on B' });

    a!.child.kill('SIGKILL');
    await waitFor(() => !a!.child.running, { what: 'A gone' });
    await waitFor(async () => (await health(b!)).role === 'leader', { timeout: 30_000, what: 'B leads' });

    // B runs the fleet's task set (its own tasks_dir has none).
    const tasks = await api<Array<{ name: string; file: string }>>(b!.url, '/api/v1/tasks');
    assert.deepEqual(tasks.map((t) => t.name), ['yearly-report']);
    assert.ok(tasks[0]!.file.startsWith('a:'), tasks[0]!.file);
    const listed = await runCommand('opsctl', ['--controller', b!.url, 'tasks']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /yearly-report/);
    assert.match(listed.stdout, new RegExp(`task set ${setB.hash.slice(0, 12)} \\(from a, `));
    assert.match(listed.stdout, /WARNING this controller's tasks_dir .* differs from the fleet's task set/);

    // The flap guard: a new WebDown on B is remediated (B's engine runs as leader, with the
    // fleet's policy); by then B has evaluated ghost-1's track in the same passes and, inheriting
    // "escalated, cooling down", tried nothing there and told nobody again.
    assert.equal((await postJson(`${b!.url}/api/v1/alerts`, [{ labels: { alertname: 'WebDown', host: 'ghost-2' }, resolveTimeoutS: 3600 }])).status, 200);
    await waitFor(async () => (await remediations(b!)).some((r) => r.host === 'ghost-2' && r.status === 'escalated'), { timeout: 30_000, what: 'B remediates ghost-2 and escalates' });
    const onB = await remediations(b!);
    assert.deepEqual(onB.filter((r) => r.fingerprint === fp1), [], 'no attempt on ghost-1 after the failover');
    await waitFor(() => count('RemediationFailed ghost-2 firing') === 1, { timeout: 20_000, what: "ghost-2's escalation" });

    // The alerts only A was told are still firing on B (nobody pushed them again), were not
    // notified again, and resolve through B.
    assert.ok((await alerts(b!, 'firing')).some((x) => x.fingerprint === fp1));
    assert.equal((await postJson(`${b!.url}/api/v1/intake/grafana`, { alerts: [{ status: 'resolved', labels: { alertname: 'GrafanaLatency', host: 'lb-1' } }] })).status, 200);
    assert.equal((await postJson(`${b!.url}/api/v1/alerts`, [{ status: 'resolved', labels: { alertname: 'WebDown', host: 'ghost-1' } }])).status, 200);
    await waitFor(() => count('GrafanaLatency lb-1 resolved') === 1 && count('WebDown ghost-1 resolved') === 1, { timeout: 20_000, what: 'B sends the resolutions' });
    assert.equal(count('WebDown ghost-1 firing'), 1, 'told once, by A');
    assert.equal(count('RemediationFailed ghost-1 firing'), 1, 'escalated once, by A');
    assert.equal(count('GrafanaLatency lb-1 firing'), 1, 'told once, by A');

    // A reload on B (SIGHUP, its own files now) makes them the fleet's set: no drift any more.
    writeFileSync(join(dir.path, 'b', 'tasks', 'web.yaml'), TASKS.replace('yearly-report', 'yearly-audit'));
    b!.child.kill('SIGHUP');
    await waitFor(async () => (await health(b!)).tasks?.origin === 'b', { timeout: 20_000, what: "B's reload in effect" });
    const after = (await health(b!)).tasks!;
    assert.deepEqual([after.source, after.drift], ['local', false]);
    assert.deepEqual((await api<Array<{ name: string }>>(b!.url, '/api/v1/tasks')).map((t) => t.name), ['yearly-audit']);
  });
});
