import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startController, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from './fakes.js';
import { postJson, startManager } from './harness.js';

// Issue 17: group timers and notification state persist; a restart neither re-sends nor waits a fresh group_wait.

describe('group timers survive a restart (fake clock)', () => {
  const dir = tempDir('opsfleet-alert-persist-');
  after(() => dir.cleanup());

  it('a pending first flush stays due when it was due; a flushed group stays on its group_interval grid', async () => {
    const T = Date.parse('2026-12-02T10:00:00Z');
    let clock = T;
    const yaml = ['group_wait: 6s', 'group_interval: 10s', 'group_by: [alertname]', 'receivers: [{ name: h, type: webhook, url: "http://127.0.0.1:1/h" }]', 'routes: [{ receivers: [h] }]'].join('\n');
    const first = await startManager(yaml, dir.path, process.env, () => clock);
    first.am.push([{ labels: { alertname: 'Pending' } }]);
    const key = 'route0:{"alertname":"Pending"}';
    assert.equal(first.am.dispatcher.dueAt(key), T + 6000);
    // Gone without a stop (as after SIGKILL): timers die, the database stays.
    first.am.dispatcher.stop();
    first.db.close();

    clock = T + 5000;
    const second = await startManager(yaml, dir.path, process.env, () => clock);
    assert.equal(second.am.dispatcher.dueAt(key), T + 6000, 'due when it was due, not 6 s after the restart');
    assert.equal(second.am.dispatcher.stats.groupsRestored, 1);
    second.am.dispatcher.stop();
    second.db.close();

    clock = T + 6000 + 25_000;
    const third = await startManager(yaml, dir.path, process.env, () => clock);
    assert.equal(third.am.dispatcher.dueAt(key), T + 6000 + 30_000, 'the next tick of the 10 s grid');
    await third.close();
  });

  it('rows of groups that did not come back are deleted at start', async () => {
    const d = tempDir('opsfleet-alert-persist2-');
    try {
      const yaml = ['group_wait: 1h', 'resolve_timeout: 1h', 'receivers: [{ name: h, type: webhook, url: "http://127.0.0.1:1/h" }]', 'routes: [{ receivers: [h] }]'].join('\n');
      const a = await startManager(yaml, d.path);
      a.am.push([{ labels: { alertname: 'Gone', host: 'x' } }, { labels: { alertname: 'Stays', host: 'x' } }]);
      assert.equal(a.am.groupStore.size, 2);
      a.am.push([{ status: 'resolved', labels: { alertname: 'Gone', host: 'x' } }]);
      await a.close();
      const b = await startManager(yaml, d.path);
      assert.equal(b.am.groupStore.size, 1);
      await b.close();
    } finally {
      d.cleanup();
    }
  });
});

describe('notification state across a controller SIGKILL (real processes)', () => {
  const dir = tempDir('opsfleet-alert-kill-');
  let nats: NatsServer;
  let ctl: ControllerProc | undefined;
  const hook = new FakeWebhook();
  let yaml = '';
  before(async () => {
    await hook.start();
    nats = await NatsServer.start();
    yaml = ['alerting:', '  group_wait: 300ms', '  group_interval: 1h', '  repeat_interval: 1h', '  resolve_timeout: 1h', '  receivers:', `    - { name: hook, type: webhook, url: "${hook.url}/h" }`, '  routes:', '    - { receivers: [hook] }'].join('\n');
  });
  after(async () => {
    await ctl?.child.stop();
    await nats?.dispose();
    await hook.stop();
    dir.cleanup();
  });
  type Body = { groups: Array<{ alerts: Array<{ labels: { alertname: string } }> }> };
  const names = () => hook.accepted().map((r) => (r.body as Body).groups.flatMap((g) => g.alerts.map((a) => a.labels.alertname)).join(','));

  it('after kill -9 and restart, what was delivered is not sent again; new alerts still go out', { timeout: 120_000 }, async () => {
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, extraYaml: yaml });
    const r = await postJson(`${ctl.url}/api/v1/alerts`, [{ labels: { alertname: 'BeforeKill', host: 'h1' } }]);
    assert.equal(r.status, 200);
    await waitFor(() => names().length === 1, { what: 'first delivery' });
    ctl.child.kill('SIGKILL');
    await waitFor(() => !ctl!.child.running, { what: 'controller gone' });
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, extraYaml: yaml });
    await postJson(`${ctl.url}/api/v1/alerts`, [{ labels: { alertname: 'AfterKill', host: 'h1' } }]);
    await waitFor(() => names().length === 2, { timeout: 30_000, what: 'delivery after the restart' });
    assert.deepEqual(names(), ['BeforeKill', 'AfterKill']);
    const started = ctl.child.logs().find((l) => l.msg === 'alerting started')!;
    assert.equal(started.firing, 1, 'BeforeKill came back from SQLite (it is firing, and its group with it)');
  });
});
