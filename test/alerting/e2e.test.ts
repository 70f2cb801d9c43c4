import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EventBatch } from '../../shared/events/codec.js';
import { Alert_State, type Event } from '../../shared/gen/opsfleet/v1/events.js';
import { eventSubject } from '../../shared/nats/subjects.js';
import { api, authHeaders, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeDingtalk, FakeWebhook } from './fakes.js';

type HookBody = { status: string; groups: Array<{ alerts: Array<{ status: string; labels: Record<string, string> }> }> };
const alertsIn = (b: HookBody) => b.groups.flatMap((g) => g.alerts.map((a) => `${a.status}:${a.labels.alertname}@${a.labels.host}`));
interface AlertJson {
  fingerprint: string;
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  silencedBy: string[];
  count: number;
}

describe('alerting end to end: real NATS, controller and agent processes', () => {
  const dir = tempDir('opsfleet-alert-e2e-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc | undefined;
  let nc: NatsConnection | undefined;
  const ding = new FakeDingtalk('e2e-token', 'SECe2e');
  const hook = new FakeWebhook('e2e-hook-secret');
  const env = { HOOK_SECRET: 'e2e-hook-secret', DING_SECRET: 'SECe2e' };
  let alertsYaml = '';
  const GROUP_WAIT = 500;

  const startCtl = () => startController({ natsUrl: nats.url, dir: dir.path, offlineAfter: '1500ms', extraYaml: alertsYaml, env });
  const opsctl = async (...args: string[]) => {
    const r = await runCommand('opsctl', [...args, '--controller', ctl.url]);
    assert.equal(r.code, 0, `opsctl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const hookAlerts = () => hook.bodies<HookBody>().flatMap(alertsIn);
  const dingTexts = () => ding.texts();

  before(async () => {
    await ding.start();
    await hook.start();
    alertsYaml = [
      'alerting:',
      `  group_wait: ${GROUP_WAIT}ms`,
      '  group_interval: 1s',
      '  repeat_interval: 1h',
      '  receivers:',
      `    - { name: ding, type: dingtalk, webhook: "${ding.webhook}", secret: "\${env:DING_SECRET}" }`,
      `    - { name: hook, type: webhook, url: "${hook.url}/opsfleet", hmac_secret: "\${env:HOOK_SECRET}" }`,
      '  routes:',
      '    - { match: { severity: critical }, receivers: [ding], continue: true }',
      '    - { receivers: [hook] }',
      '  inhibit:',
      '    - { source: { alertname: HostOffline }, target: {}, equal: [host] }',
    ].join('\n');
    nats = await NatsServer.start();
    ctl = await startCtl();
  });

  after(async () => {
    await nc?.close();
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    await ding.stop();
    await hook.stop();
    dir.cleanup();
  });

  it('an agent going offline gives exactly one HostOffline firing notification per route after group_wait, and one resolved when it returns', async () => {
    agent = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'web-01', heartbeat: '300ms' });
    await waitFor(async () => (await api<Array<{ id: string; status: string }>>(ctl.url, '/api/v1/hosts')).some((h) => h.id === 'web-01' && h.status === 'online'), { what: 'web-01 online', timeout: 15_000 });
    await agent.child.stop();
    const offlineLine = await ctl.child.waitForLog((l) => l.msg === 'host offline' && l.hostId === 'web-01', 10_000, 'host offline');
    const offlineAt = Date.parse(String(offlineLine.time));
    await waitFor(() => dingTexts().length === 1 && hookAlerts().length === 1, { what: 'HostOffline notifications', timeout: 10_000 });
    assert.ok(ding.accepted()[0]!.at - offlineAt >= GROUP_WAIT - 50, `sent ${ding.accepted()[0]!.at - offlineAt}ms after offline`);
    assert.match(dingTexts()[0]!, /HostOffline @ web-01/);
    assert.deepEqual(hookAlerts(), ['firing:HostOffline@web-01']);
    const fp = (await api<AlertJson[]>(ctl.url, '/api/v1/alerts')).find((a) => a.labels.alertname === 'HostOffline')!;
    assert.equal(fp.labels.severity, 'critical');
    await new Promise((r) => setTimeout(r, 2000)); // two group intervals: still exactly one each
    assert.equal(ding.requests.length, 1);
    assert.equal(hook.requests.length, 1);

    agent = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'web-01', heartbeat: '300ms' });
    await waitFor(() => dingTexts().length === 2 && hookAlerts().length === 2, { what: 'resolved notifications', timeout: 10_000 });
    assert.match(dingTexts()[1]!, /RESOLVED/);
    assert.deepEqual(hookAlerts(), ['firing:HostOffline@web-01', 'resolved:HostOffline@web-01']);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(ding.requests.length, 2);
    assert.equal(hook.requests.length, 2);
    assert.ok([...ding.requests, ...hook.requests].every((r) => r.problems.length === 0), 'expected: [...ding.requests, ...hook.requests].every((r) => r.problems.length ==');
  });

  it('alert events from NATS are deduplicated and routed; a malformed one is counted and skipped', async () => {
    nc = await connect(nats.connectOptions());
    let seq = 0;
    const ev = (labels: Record<string, string>, extra: Partial<Event> = {}): Event => {
      seq++;
      return {
        id: `web-09:inst:${seq}`,
        hostId: 'web-09',
        instanceId: 'inst',
        seq,
        tsMs: Date.now(),
        kind: 'alert',
        alert: { state: Alert_State.STATE_FIRING, labels, annotations: { summary: 'nginx is down' }, startsAtMs: Date.now(), endsAtMs: 0, resolveTimeoutS: 0 },
        ...extra,
      };
    };
    const publish = (events: Event[]) => nc!.publish(eventSubject('alert', 'web-09'), EventBatch.encode({ events }).finish());
    publish([ev({ alertname: 'ServiceDown', service: 'nginx' }), ev({ severity: 'warning' }), ev({ alertname: 'ServiceDown', service: 'nginx' })]);
    publish([ev({ alertname: 'ServiceDown', service: 'nginx' }), ev({ alertname: 'x' }, { alert: undefined, json: '{"not":"an alert"}' })]);
    await nc.flush();
    const alert = await waitFor(async () => (await api<AlertJson[]>(ctl.url, '/api/v1/alerts')).find((a) => a.labels.alertname === 'ServiceDown' && a.count === 3), { what: 'ServiceDown x3' });
    assert.deepEqual(alert.labels, { alertname: 'ServiceDown', service: 'nginx', host: 'web-09' });
    // An alert without alertname passes ingest and is counted by alerting; an `alert` event with a
    // JSON payload is not an alert at all and is rejected by ingest already.
    await waitFor(async () => {
      const c = (await api<{ counters: Record<string, number> }>(ctl.url, '/healthz')).counters;
      return c.alert_events_malformed === 1 && c.events_rejected === 1;
    }, { what: 'malformed counted' });
    await waitFor(() => hookAlerts().includes('firing:ServiceDown@web-09'), { what: 'ServiceDown notified' });
    assert.ok(ctl.child.running, 'controller still running');
    const ls = ctl.child.logs();
    assert.ok(ls.some((l) => l.msg === 'malformed alert event skipped' && /labels lack alertname/.test(String(l.reason))), 'malformed event logged with its reason');
  });

  it('opsctl alerts / alerts show / silence add, list, rm / notify test / notify log; POST /api/v1/alerts', async () => {
    const table = await opsctl('alerts');
    assert.match(table, /ServiceDown/);
    const list = JSON.parse(await opsctl('alerts', '--json')) as AlertJson[];
    const sd = list.find((a) => a.labels.alertname === 'ServiceDown')!;
    const shown = await opsctl('alerts', 'show', sd.fingerprint);
    assert.match(shown, new RegExp(`fingerprint ${sd.fingerprint}`));
    assert.match(shown, /service=nginx/);
    const resolved = JSON.parse(await opsctl('alerts', '--state', 'resolved', '--json')) as AlertJson[];
    assert.ok(resolved.some((a) => a.labels.alertname === 'HostOffline'), 'expected: resolved.some((a) => a.labels.alertname === HostOffline)');

    const added = await opsctl('silence', 'add', '--match', 'host=web-09', '--match', 'alertname=~Service.*', '--for', '2h', '--comment', 'nginx upgrade');
    const id = /silence ([0-9a-f-]{36}) active/.exec(added)?.[1];
    assert.ok(id, added);
    const silences = JSON.parse(await opsctl('silence', 'list', '--json')) as Array<{ id: string; comment: string; createdBy: string; status: string }>;
    assert.deepEqual(silences.map((s) => [s.id, s.comment, s.createdBy, s.status]), [[id, 'nginx upgrade', 'admin', 'active']]);
    const muted = JSON.parse(await opsctl('alerts', '--json')) as AlertJson[];
    assert.deepEqual(muted.find((a) => a.fingerprint === sd.fingerprint)!.silencedBy, [id]);
    assert.match(await opsctl('silence', 'rm', id), /removed/);
    assert.deepEqual(JSON.parse(await opsctl('silence', 'list', '--json')), []);

    const bad = await runCommand('opsctl', ['silence', 'add', '--match', 'host=~(web', '--controller', ctl.url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /OPS_ERR_REGEX_SYNTAX: matcher host=~"\(web": invalid regex/);

    const test = await opsctl('notify', 'test', 'ding');
    assert.match(test, /^ding: ok — errcode 0: ok/);
    const unknown = await runCommand('opsctl', ['notify', 'test', 'nope', '--controller', ctl.url]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /OPS_ERR_RECEIVER_UNKNOWN/);
    const log = JSON.parse(await opsctl('notify', 'log', '--json')) as Array<{ receiver: string; kind: string; outcome: string }>;
    assert.ok(log.some((l) => l.receiver === 'ding' && l.kind === 'test' && l.outcome === 'ok'), 'expected: log.some((l) => l.receiver === ding && l.kind === test && l.outcome ==');

    const res = await fetch(`${ctl.url}/api/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(ctl.url) },
      body: JSON.stringify([{ labels: { alertname: 'PushedByTool', host: 'lb-01', severity: 'warning' }, annotations: { summary: 'from another tool' } }]),
    });
    assert.equal(res.status, 200);
    const pushed = (await res.json()) as { accepted: number; fingerprints: string[] };
    assert.equal(pushed.accepted, 1);
    const badPush = await fetch(`${ctl.url}/api/v1/alerts`, { method: 'POST', headers: authHeaders(ctl.url), body: JSON.stringify({ labels: { host: 'x' } }) });
    assert.equal(badPush.status, 400);
    assert.equal(((await badPush.json()) as { error: { code: string } }).error.code, 'OPS_ERR_ALERT_MALFORMED');
    await waitFor(() => hookAlerts().includes('firing:PushedByTool@lb-01'), { what: 'pushed alert notified' });
  });

  it('a controller restart keeps alert, silence and notification state and re-sends nothing', async () => {
    await opsctl('silence', 'add', '--match', 'alertname=PushedByTool', '--for', '1h', '--comment', 'keep me');
    const before = { ding: ding.requests.length, hook: hook.requests.length };
    const alertsBefore = JSON.parse(await opsctl('alerts', '--state', 'all', '--json')) as AlertJson[];
    const logBefore = JSON.parse(await opsctl('notify', 'log', '--json', '--limit', '1000')) as unknown[];
    await ctl.child.stop();
    assert.equal(ctl.child.exitCode, 0);
    ctl = await startCtl();
    const alertsAfter = JSON.parse(await opsctl('alerts', '--state', 'all', '--json')) as AlertJson[];
    assert.deepEqual(alertsAfter.map((a) => [a.fingerprint, a.status]).sort(), alertsBefore.map((a) => [a.fingerprint, a.status]).sort());
    const silences = JSON.parse(await opsctl('silence', 'list', '--json')) as Array<{ comment: string }>;
    assert.deepEqual(silences.map((s) => s.comment), ['keep me']);
    const logAfter = JSON.parse(await opsctl('notify', 'log', '--json', '--limit', '1000')) as unknown[];
    assert.equal(logAfter.length, logBefore.length);
    await new Promise((r) => setTimeout(r, GROUP_WAIT + 1500));
    assert.equal(ding.requests.length, before.ding, 'nothing re-sent to DingTalk');
    assert.equal(hook.requests.length, before.hook, 'nothing re-sent to the webhook');
  });
});
