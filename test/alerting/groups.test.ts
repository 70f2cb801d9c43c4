import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { AlertGroupView } from '../../controller/api/wire.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from './fakes.js';
import { startApi, startManager } from './harness.js';

// Issue 16: the dashboard shows firing alerts "grouped as routed", from GET /api/v1/alerts/groups.
describe('GET /api/v1/alerts/groups: the aggregation groups as routed', () => {
  const dir = tempDir('opsfleet-alert-groups-');
  const hook = new FakeWebhook();
  let m: Awaited<ReturnType<typeof startManager>>;
  let api: Awaited<ReturnType<typeof startApi>>;

  before(async () => {
    await hook.start();
    m = await startManager(
      [
        'group_wait: 0s',
        'group_interval: 1h',
        'group_by: [alertname]',
        'receivers:',
        `  - { name: dba, type: webhook, url: "${hook.url}/dba" }`,
        `  - { name: oncall, type: webhook, url: "${hook.url}/oncall" }`,
        'routes:',
        "  - matchers: ['team=\"db\"']",
        '    receivers: [dba]',
        '    group_by: [alertname, cluster]',
        '    routes:',
        "      - matchers: ['severity=\"critical\"']",
        '        receivers: [oncall]',
        '  - { receivers: [oncall] }',
      ].join('\n'),
      dir.path,
    );
    api = await startApi(m.am);
  });

  after(async () => {
    await api?.close();
    await m?.close();
    await hook.stop();
    dir.cleanup();
  });

  it('answers one group per route and group_by values, with the route, its path, alerts and notification times', { timeout: 60_000 }, async () => {
    m.am.push([
      { labels: { alertname: 'ReplLag', team: 'db', cluster: 'c1', host: 'db-1', severity: 'warning' } },
      { labels: { alertname: 'ReplLag', team: 'db', cluster: 'c1', host: 'db-2', severity: 'warning' } },
      { labels: { alertname: 'ReplLag', team: 'db', cluster: 'c2', host: 'db-3', severity: 'warning' } },
      { labels: { alertname: 'DiskFull', team: 'db', cluster: 'c1', host: 'db-1', severity: 'critical' } },
      { labels: { alertname: 'HighLoad', team: 'web', host: 'web-1' } },
      { labels: { alertname: 'HighLoad', team: 'web', host: 'web-2' } },
    ]);
    // group_wait 0s: every group flushes once and its receiver is told; group_interval 1h keeps the next flush far off.
    await waitFor(() => hook.accepted().length === 4, { what: 'one notification per group' });
    const groups = await waitFor(async () => {
      const res = await fetch(`${api.url}/api/v1/alerts/groups`);
      assert.equal(res.status, 200);
      const gs = (await res.json()) as AlertGroupView[];
      return gs.every((g) => g.notified.every((n) => n.at !== null)) ? gs : undefined;
    }, { what: 'every group recorded as notified' });

    const summary = groups.map((g) => ({ route: g.route.id, receivers: g.route.receivers, labels: g.labels, hosts: g.alerts.map((a) => a.labels.host).sort() }));
    assert.deepEqual(summary, [
      { route: 'route0', receivers: ['dba'], labels: { alertname: 'ReplLag', cluster: 'c1' }, hosts: ['db-1', 'db-2'] },
      { route: 'route0', receivers: ['dba'], labels: { alertname: 'ReplLag', cluster: 'c2' }, hosts: ['db-3'] },
      // The child inherits group_by [alertname, cluster] and sends to its own receiver.
      { route: 'route0.0', receivers: ['oncall'], labels: { alertname: 'DiskFull', cluster: 'c1' }, hosts: ['db-1'] },
      { route: 'route1', receivers: ['oncall'], labels: { alertname: 'HighLoad' }, hosts: ['web-1', 'web-2'] },
    ]);

    const child = groups[2]!;
    assert.deepEqual(child.route.path, [
      { id: 'route0', matchers: ['team=db'] },
      { id: 'route0.0', matchers: ['severity=critical'] },
    ]);
    assert.deepEqual(child.route.groupBy, ['alertname', 'cluster']);
    assert.equal(child.groupKey, 'route0.0:{"alertname":"DiskFull","cluster":"c1"}');
    assert.equal(child.notified.length, 1);
    assert.equal(child.notified[0]!.receiver, 'oncall');
    assert.ok(Date.parse(child.notified[0]!.at!) > 0);
    assert.ok(child.nextFlushAt !== null && Date.parse(child.nextFlushAt) > Date.parse(child.notified[0]!.at!), 'the next flush is one group_interval after the first');
    const a = child.alerts[0]!;
    assert.equal(a.status, 'firing');
    assert.match(a.fingerprint, /^[0-9a-f]{16}$/);
    assert.deepEqual([a.silencedBy, a.inhibitedBy], [[], []]);
  });

  it('shows a silence on the grouped alert it mutes, as the alerts API does', { timeout: 60_000 }, async () => {
    const s = m.am.silences.add({ matchers: [{ name: 'host', op: '=', value: 'web-2' }], endsAtMs: Date.now() + 3_600_000, createdBy: 'test', comment: '' });
    const res = await fetch(`${api.url}/api/v1/alerts/groups`);
    const groups = (await res.json()) as AlertGroupView[];
    const load = groups.find((g) => g.labels.alertname === 'HighLoad')!;
    const byHost = Object.fromEntries(load.alerts.map((a) => [a.labels.host, a.silencedBy]));
    assert.deepEqual(byHost, { 'web-1': [], 'web-2': [s.id] });
  });
});
