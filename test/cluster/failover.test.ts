import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { api, type ControllerProc } from '../helpers/daemons.js';
import { ClusterFleet } from '../helpers/cluster-fleet.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from '../alerting/fakes.js';

interface Health {
  role: 'leader' | 'standby';
  leader: { id: string } | null;
}
type HookBody = { groups: Array<{ alerts: Array<{ status: string; labels: Record<string, string> }> }> };

/** Slots of the task `mark` a controller ran (read from its SQLite: the killed one has no API left). */
function slotsRun(dataDir: string): number[] {
  const db = new Database(join(dataDir, 'controller.db'), { readonly: true });
  try {
    const rows = db.prepare("SELECT slot_ms, status FROM task_runs WHERE task = 'mark' ORDER BY id").all() as Array<{ slot_ms: number; status: string }>;
    return rows.filter((r) => r.status !== 'missed' && r.status !== 'skipped').map((r) => r.slot_ms);
  } finally {
    db.close();
  }
}

// Issue 18's acceptance on the cluster: two controllers with ha on a three-node operator-mode NATS
// cluster (stream, control log and lease buckets R3), enrolled agents publishing. kill -9 of the
// leader AND of the NATS node it was connected to: the standby leads, stores every event exactly
// once, runs no slot the old leader ran, does not repeat what the old leader notified, and
// notifies an alert that fired while nobody led.
describe('cluster failover: kill -9 of the leader controller and of its NATS node', () => {
  const hook = new FakeWebhook();
  let fleet: ClusterFleet;
  let a: ControllerProc & { dataDir: string };
  let b: ControllerProc & { dataDir: string };
  let lateFlag = '';

  const health = (c: ControllerProc) => api<Health>(c.url, '/healthz');
  /** Firing notifications the webhook accepted for the CheckDown of check `name`. */
  const firing = (name: string) =>
    hook
      .bodies<HookBody>()
      .flatMap((body) => body.groups.flatMap((g) => g.alerts))
      .filter((x) => x.status === 'firing' && x.labels.alertname === 'CheckDown' && x.labels.check === name).length;

  before(async () => {
    await hook.start();
    fleet = await ClusterFleet.start();
    const tasksDir = join(fleet.dir.path, 'tasks.d');
    mkdirSync(tasksDir);
    writeFileSync(join(tasksDir, 'main.yaml'), 'tasks:\n  - name: mark\n    schedule: "*/2 * * * * *"\n    target: "*"\n    playbook: quick\n');
    const yaml = (id: string, port: number, extra = '') =>
      [
        `ha: { enabled: true, id: ${id}, advertise_url: "http://127.0.0.1:${port}" }`,
        `tasks_dir: ${tasksDir}`,
        'scheduler: { tick: 200ms }',
        'playbooks:',
        '  quick: { steps: [ { run: "true" } ] }',
        'alerting:',
        '  group_wait: 300ms',
        '  group_interval: 1h',
        '  repeat_interval: 1h',
        '  group_by: [alertname, check]',
        '  receivers:',
        `    - { name: hook, type: webhook, url: "${hook.url}/h" }`,
        '  routes:',
        '    - { receivers: [hook] }',
        extra,
      ].join('\n');
    // Each node has 1 GB of file store: the event stream leaves room for the control log and the two buckets (R3: a copy on every node).
    const streamExtra = 'max_bytes: 256MiB';
    a = await fleet.controller('a', { streamExtra, extraYaml: (port) => yaml('a', port) });
    await waitFor(async () => (await health(a)).role === 'leader', { timeout: 60_000, what: 'a leads' });
    // The standby shares the fleet CA (and, through the cluster helper, the NATS authority).
    const pki = join(a.dataDir, 'pki');
    await waitFor(() => existsSync(join(pki, 'ca.key')), { what: "a's fleet CA" });
    b = await fleet.controller('b', { streamExtra, extraYaml: (port) => yaml('b', port, `pki: { ca_cert: ${join(pki, 'ca.crt')}, ca_key: ${join(pki, 'ca.key')} }`) });

    // c1's check is down from the start (an alert firing before the switch); c2's goes down once
    // the flag exists (an alert that fires while nobody leads); c3 only publishes.
    lateFlag = join(fleet.dir.path, 'late.flag');
    const check = (name: string, command: string) => `checks:\n  - { name: ${name}, type: command, command: ${JSON.stringify(command)}, interval: 500ms, failures: 1, report_every: 2s }`;
    await fleet.agent('c1', a, check('doomed', 'exit 2'));
    await fleet.agent('c2', a, check('late', `if [ -e ${lateFlag} ]; then exit 2; fi`));
    await fleet.agent('c3', a);
  });

  after(async () => {
    await fleet?.dispose();
    await hook.stop();
  });

  it('before: a leads and notifies, b is a warm standby that knows what a sent and runs no slot', { timeout: 120_000 }, async () => {
    await waitFor(async () => {
      const h = await health(b);
      return h.role === 'standby' && h.leader?.id === 'a';
    }, { timeout: 60_000, what: 'b is a standby naming a' });
    await fleet.ingestedPast(b.dataDir, new Map(), 8, 'b ingests every agent');
    assert.deepEqual(await fleet.eventStreamReplicas(), { configured: 3, placed: 3 });
    await waitFor(() => firing('doomed') === 1, { timeout: 30_000, what: 'a notifies the CheckDown of c1' });
    // a's delivery reached b through the control log (a repeat is allowed only for a
    // notification in flight at the kill; this one is not).
    await waitFor(async () => (await api<Array<{ receiver: string; outcome: string }>>(b.url, '/api/v1/notifications')).some((n) => n.receiver === 'hook' && n.outcome === 'ok'), { timeout: 30_000, what: "a's delivery in b's history" });
    await waitFor(() => slotsRun(a.dataDir).length >= 2, { timeout: 30_000, what: 'a runs the schedule' });
    assert.deepEqual(slotsRun(b.dataDir), [], 'the standby ran no slot');
    assert.equal(firing('late'), 0);
  });

  it('kill -9 of a and its NATS node: b leads, stores every event once, runs no slot twice, repeats nothing, loses nothing', { timeout: 180_000 }, async (t) => {
    const node = fleet.nodeOf(a.child);
    assert.ok(node, `a reports a node of the cluster\n${a.child.tail(20)}`);
    const bNode = fleet.nodeOf(b.child);
    const before = fleet.highest(b.dataDir);
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await Promise.all([a.child.exited, fleet.cluster.kill(node.name)]);
    // Fires while nobody leads: b must notify it once it does (nothing lost across the switch).
    writeFileSync(lateFlag, '');
    // b's ingest goes on (its consumer's leader may have been on the dead node): reported, as the failover time.
    let resumed = 0;
    void fleet.ingestedPast(b.dataDir, before, 1, 'b ingests again').then(() => (resumed = Date.now()), () => undefined);

    let led = 0;
    await waitFor(
      async () => {
        if ((await health(b)).role === 'leader') led = Date.now();
        return led > 0;
      },
      { timeout: 60_000, interval: 100, what: `b leads\n${b.child.tail(30)}` },
    );
    // The 15 s goal is measured in bench/ (ha-failover); here the figure is reported.
    t.diagnostic(`cluster failover: kill -9 of leader a and of its node ${node.name} (b on ${bNode?.name ?? '?'}) → b leads in ${led - killedAt} ms`);

    // After a node loss b's ingest may wait for its pull to expire (10 s, shared/nats/stream.ts) and a new consumer leader.
    await waitFor(() => firing('late') >= 1, { timeout: 60_000, what: 'b notifies the alert that fired during the switch' });
    await fleet.ingestedPast(b.dataDir, before, 20, 'b ingests after the switch');
    t.diagnostic(`b's ingest resumed ${(resumed || Date.now()) - killedAt} ms after the kill (every agent had an event past the kill stored)`);
    await waitFor(() => slotsRun(b.dataDir).length >= 2, { timeout: 30_000, what: 'b runs the schedule' });
    const slotsA = slotsRun(a.dataDir);
    const slotsB = slotsRun(b.dataDir);
    const twice = slotsA.filter((s) => slotsB.includes(s));
    assert.deepEqual(twice, [], `slots run on both: ${twice.map((s) => new Date(s).toISOString()).join(', ')}`);
    t.diagnostic(`slots run by a: ${slotsA.length}, by b after the failover: ${slotsB.length}`);

    const final = await fleet.stopAgentsAndCheckExactlyOnce(b.dataDir);
    for (const r of final) assert.ok(r.hi >= (before.get(r.host) ?? 0) + 20, `${r.host}: events after the switch stored`);
    // Notified by a and known to b before the kill: not notified again; the late one exactly once.
    assert.equal(firing('doomed'), 1, 'the alert a notified is not repeated by b');
    assert.equal(firing('late'), 1, 'the alert that fired during the switch is notified once');
  });
});
