import { strict as assert } from 'node:assert';
import { after, afterEach, describe, it } from 'node:test';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from './fakes.js';
import { postJson, startApi, startManager } from './harness.js';

// Issue 17: Prometheus, Alertmanager and Grafana alerts in; they get everything opsfleet alerts get.
const dir = tempDir('opsfleet-alert-intake-');
after(() => dir.cleanup());
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
let n = 0;
async function setup() {
  const hook = new FakeWebhook();
  await hook.start();
  cleanups.push(() => hook.stop());
  const m = await startManager(
    ['group_wait: 0s', 'group_interval: 200ms', 'sweep_interval: 50ms', 'group_by: [alertname]', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}/h" }`, 'routes:', '  - { receivers: [hook] }'].join('\n'),
    `${dir.path}/m-${++n}`,
  );
  cleanups.push(m.close);
  const api = await startApi(m.am);
  cleanups.push(api.close);
  return { ...m, hook, url: api.url };
}
type HookBody = { groups: Array<{ alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }> }> };
const delivered = (hook: FakeWebhook) => hook.accepted().flatMap((r) => (r.body as HookBody).groups.flatMap((g) => g.alerts.map((a) => `${a.status}:${a.labels.alertname}`)));

describe('Alertmanager API v2 intake (Prometheus → opsfleet)', () => {
  it('takes postableAlerts as Prometheus sends them, resolves by endsAt, delivers through the pipeline', { timeout: 60_000 }, async () => {
    const { am, hook, url } = await setup();
    const now = Date.now();
    // What Prometheus' notifier posts: firing alerts carry an endsAt a few intervals ahead.
    const firing = [
      { labels: { alertname: 'HighLatency', instance: 'web-01:9100', job: 'node', severity: 'warning' }, annotations: { summary: 'p99 over 2s' }, startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 600_000).toISOString(), generatorURL: 'http://prometheus:9090/graph?g0.expr=x' },
      { labels: { alertname: 'TargetDown', instance: 'db-01:9100', job: 'node' }, annotations: {}, startsAt: new Date(now).toISOString(), endsAt: new Date(now + 600_000).toISOString() },
    ];
    const r = await postJson<{ accepted: number }>(`${url}/api/v2/alerts`, firing);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.accepted, 2);
    const a = am.list('firing').find((x) => x.labels.alertname === 'HighLatency')!;
    assert.equal(a.source, 'prometheus');
    assert.equal(a.annotations.generator_url, 'http://prometheus:9090/graph?g0.expr=x');
    assert.equal(a.startsAt, new Date(now - 60_000).toISOString());
    await waitFor(() => delivered(hook).length === 2, { what: 'both firing alerts delivered' });
    // The resolution: the same labels with endsAt in the past.
    const res = await postJson(`${url}/api/v2/alerts`, [{ ...firing[1], endsAt: new Date(Date.now() - 1000).toISOString() }]);
    assert.equal(res.status, 200);
    await waitFor(() => delivered(hook).includes('resolved:TargetDown'), { what: 'resolved delivered' });
    assert.equal(am.get(am.list('resolved')[0]!.fingerprint)!.status, 'resolved');
  });

  it('an alert Prometheus stops sending resolves itself at its endsAt', { timeout: 60_000 }, async () => {
    const { am, url } = await setup();
    const r = await postJson(`${url}/api/v2/alerts`, [{ labels: { alertname: 'Flappy' }, endsAt: new Date(Date.now() + 300).toISOString() }]);
    assert.equal(r.status, 200);
    await waitFor(() => am.list('resolved').some((a) => a.labels.alertname === 'Flappy'), { what: 'self-resolution at endsAt' });
  });

  it('bad bodies are 400 naming the field', async () => {
    const { url } = await setup();
    for (const [body, re] of [
      [{ labels: {} }, /expected array/],
      [[{ labels: { severity: 'x' } }], /alerts\[0\]: labels lack alertname/],
      [[{ labels: { alertname: 'A' }, startsAt: 'yesterday' }], /alerts\[0\]\.startsAt: not an RFC 3339 time/],
      ['{not json', /not JSON/],
    ] as const) {
      const r = await postJson<{ error: { code: string; message: string } }>(`${url}/api/v2/alerts`, body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.error.message, re);
    }
  });
});

describe('Alertmanager webhook and Grafana contact point intake', () => {
  it('an Alertmanager webhook payload (version 4) maps each alert with its status', { timeout: 60_000 }, async () => {
    const { am, hook, url } = await setup();
    const payload = {
      version: '4',
      groupKey: '{}:{alertname="DiskFull"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'opsfleet',
      groupLabels: { alertname: 'DiskFull' },
      commonLabels: { alertname: 'DiskFull' },
      commonAnnotations: {},
      externalURL: 'http://alertmanager:9093',
      alerts: [
        { status: 'firing', labels: { alertname: 'DiskFull', instance: 'a' }, annotations: { summary: '/data 95%' }, startsAt: '2026-12-02T10:00:00Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prom/g', fingerprint: 'abc' },
        { status: 'resolved', labels: { alertname: 'DiskFull', instance: 'b' }, annotations: {}, startsAt: '2026-12-02T09:00:00Z', endsAt: '2026-12-02T10:30:00Z', fingerprint: 'def' },
      ],
    };
    // b fired before (otherwise a resolution of an unknown alert is ignored, as designed).
    await postJson(`${url}/api/v1/intake/alertmanager`, { ...payload, alerts: [{ ...payload.alerts[1], status: 'firing', endsAt: '0001-01-01T00:00:00Z' }] });
    const r = await postJson<{ accepted: number }>(`${url}/api/v1/intake/alertmanager`, payload);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const a = am.list('all');
    assert.deepEqual(a.map((x) => `${x.status}:${x.labels.instance}:${x.source}`).sort(), ['firing:a:alertmanager', 'resolved:b:alertmanager']);
    assert.equal(a.find((x) => x.labels.instance === 'b')!.endsAt, '2026-12-02T10:30:00.000Z');
    await waitFor(() => delivered(hook).includes('firing:DiskFull'), { what: 'delivery' });
  });

  it('a Grafana webhook payload keeps its links and value as annotations', { timeout: 60_000 }, async () => {
    const { am, url } = await setup();
    const payload = {
      receiver: 'opsfleet',
      status: 'firing',
      orgId: 1,
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'CPU high', grafana_folder: 'Infra', host: 'web-01' },
          annotations: { summary: 'CPU over 90%' },
          startsAt: '2026-12-02T11:00:00Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'http://grafana/alerting/grafana/abc/view',
          fingerprint: '57c6d9296de2ad39',
          silenceURL: 'http://grafana/alerting/silence/new',
          dashboardURL: 'http://grafana/d/xyz',
          panelURL: 'http://grafana/d/xyz?viewPanel=2',
          values: { B: 93.4 },
          valueString: "[ var='B' labels={host=web-01} value=93.4 ]",
        },
      ],
      groupLabels: { alertname: 'CPU high' },
      commonLabels: {},
      commonAnnotations: {},
      externalURL: 'http://grafana/',
      version: '1',
      groupKey: '{}:{alertname="CPU high"}',
      truncatedAlerts: 0,
      title: '[FIRING:1] CPU high',
      state: 'alerting',
      message: '**Firing**',
    };
    // Grafana allows spaces in alertname values (a label value, not a name): fine for us too.
    const r = await postJson<{ accepted: number }>(`${url}/api/v1/intake/grafana`, payload);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const a = am.list('firing')[0]!;
    assert.equal(a.source, 'grafana');
    assert.equal(a.labels.grafana_folder, 'Infra');
    assert.equal(a.annotations.dashboard_url, 'http://grafana/d/xyz');
    assert.equal(a.annotations.panel_url, 'http://grafana/d/xyz?viewPanel=2');
    assert.match(a.annotations.value!, /value=93.4/);
    assert.deepEqual((am.statsView() as { intake: Record<string, number> }).intake, { grafana: 1 });
  });
});
