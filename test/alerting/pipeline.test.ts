import { strict as assert } from 'node:assert';
import { after, afterEach, describe, it } from 'node:test';
import { Alert_State } from '../../shared/gen/opsfleet/v1/events.js';
import { fingerprint } from '../../controller/alerts/fingerprint.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeDingtalk, FakeWebhook } from './fakes.js';
import { alertEvent, logRows, startManager } from './harness.js';

const dir = tempDir('opsfleet-alert-pipe-');
after(() => dir.cleanup());
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
let n = 0;
async function manager(yaml: string, sub = `m${++n}`) {
  const m = await startManager(yaml, `${dir.path}/${sub}`);
  cleanups.push(m.close);
  return m;
}
async function fake<T extends { start(): Promise<T>; stop(): Promise<void> }>(f: T): Promise<T> {
  await f.start();
  cleanups.push(() => f.stop());
  return f;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type HookBody = { status: string; groupKey: string; groups: Array<{ groupKey: string; status: string; alerts: Array<{ status: string; labels: Record<string, string> }> }> };
const alertsIn = (b: HookBody) => b.groups.flatMap((g) => g.alerts.map((a) => `${a.status}:${a.labels.alertname}@${a.labels.host}`));

describe('dedupe, grouping and the robot rate limit', () => {
  it('10,000 firing events for 50 alerts on 10 hosts: one notification per group, never over the limit, a digest that says how many merged', async () => {
    // DingTalk's 20/min scaled down: the stand-in bans above 6 per 2 s; our limit is 5 per 2 s.
    const ding = await fake(new FakeDingtalk('tok', 'SECx', 6, 2000));
    const { am } = await manager(
      [
        'group_by: [alertname, host]',
        'group_wait: 200ms',
        'group_interval: 1s',
        'repeat_interval: 1h',
        'receivers:',
        `  - { name: ding, type: dingtalk, webhook: "${ding.webhook}", secret: "SECx", rate_limit: { count: 5, per: 2s } }`,
        'routes:',
        '  - { receivers: [ding] }',
      ].join('\n'),
    );
    const names = ['DiskFull', 'HighLoad', 'ServiceDown', 'BackupFailed', 'LogErrors'];
    const hosts = Array.from({ length: 10 }, (_, i) => `web-${String(i).padStart(2, '0')}`);
    const started = Date.now();
    let total = 0;
    // 20 batches of 500 over ~1 s, as ingest would hand them over.
    for (let b = 0; b < 20; b++) {
      const batch = Array.from({ length: 500 }, (_, i) => {
        const k = (b * 500 + i) % 50;
        return alertEvent(hosts[k % 10]!, { alertname: names[Math.floor(k / 10)]!, severity: 'warning' });
      });
      am.onEvents(batch);
      total += batch.length;
      await sleep(50);
    }
    assert.equal(total, 10_000);
    assert.equal(am.stats.new, 50);
    assert.equal(am.stats.refreshed, 9_950);
    assert.equal(am.list('firing').length, 50);
    assert.ok(am.list('firing').every((a) => a.count === 200), 'expected: am.list(firing).every((a) => a.count === 200)');

    // Every group delivered exactly once.
    const delivered = () => am.notifyStore.list({ receiver: 'ding', limit: 1000 }).filter((l) => l.outcome === 'ok');
    await waitFor(() => delivered().reduce((s, l) => s + (JSON.parse(l.group_keys) as string[]).length, 0) >= 50, { what: 'all 50 groups delivered', timeout: 15_000 });
    await sleep(1500); // two more group intervals: nothing changed, so nothing more is sent
    const rows = delivered();
    const keys = rows.flatMap((l) => JSON.parse(l.group_keys) as string[]);
    assert.equal(keys.length, 50);
    assert.equal(new Set(keys).size, 50);

    // The stand-in never had to ban us, and no 2 s window held more than 5 messages.
    assert.ok(ding.requests.every((r) => r.problems.length === 0), 'expected: ding.requests.every((r) => r.problems.length === 0)');
    assert.equal(ding.accepted().length, ding.requests.length, 'no 130101 answers');
    const at = ding.requests.map((r) => r.at);
    // Our limiter holds 5 per 2 s by its own clock; arrival jitter may shift one, never past the platform's 6.
    for (const t of at) assert.ok(at.filter((u) => u >= t && u < t + 2000).length <= 6, 'over the platform limit of 6 per 2s');
    assert.ok(am.workers.get('ding')!.stats.maxInWindow <= 5, 'our own window never held more than 5');
    const digests = rows.filter((l) => l.kind === 'digest');
    assert.ok(digests.length >= 1, 'a digest was sent');
    const merged = digests.reduce((s, l) => s + l.merged, 0);
    assert.equal(merged + rows.filter((l) => l.kind === 'notify').length, 50);
    const digestText = ding.texts().find((t) => t.includes('notifications merged'));
    assert.ok(digestText, 'digest text');
    assert.match(digestText, new RegExp(`汇总 DIGEST\\] ${digests[0]!.merged} notifications merged`));
    assert.ok(Date.now() - started < 20_000, 'expected: Date.now() - started < 20_000');
  });

  it('re-sends an unchanged firing group after repeat_interval, not before', async () => {
    const hook = await fake(new FakeWebhook());
    const { am } = await manager(['group_wait: 100ms', 'group_interval: 200ms', 'repeat_interval: 1s', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}" }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
    am.onEvents([alertEvent('web-01', { alertname: 'Stuck' })]);
    await waitFor(() => hook.accepted().length === 1, { what: 'first' });
    const first = hook.accepted()[0]!.at;
    await waitFor(() => hook.accepted().length === 2, { what: 'repeat', timeout: 5000 });
    const gap = hook.accepted()[1]!.at - first;
    assert.ok(gap >= 950, `repeat after ${gap}ms, not before repeat_interval`);
  });
});

describe('silences and inhibition', () => {
  it('suppress what they should and nothing else; an expiring silence lets the next notification through', async () => {
    const hook = await fake(new FakeWebhook());
    const { am } = await manager(
      [
        'group_by: [alertname, host]',
        'group_wait: 150ms',
        'group_interval: 400ms',
        'receivers:',
        `  - { name: hook, type: webhook, url: "${hook.url}" }`,
        'routes:',
        '  - { receivers: [hook] }',
        'inhibit:',
        '  - { source: { alertname: HostOffline }, target: {}, equal: [host] }',
      ].join('\n'),
    );
    const silence = am.silences.add({ matchers: [{ name: 'host', op: '=', value: 'web-01' }, { name: 'alertname', op: '=', value: 'DiskFull' }], endsAtMs: Date.now() + 1200, createdBy: 'test', comment: 'disk swap' });
    am.onHostStatus({ hostId: 'web-03', from: 'online', to: 'offline', atMs: Date.now(), reason: 'no heartbeat' });
    am.onEvents([
      alertEvent('web-01', { alertname: 'DiskFull' }), // silenced
      alertEvent('web-01', { alertname: 'CPUHigh' }), // same host, other alert: not silenced
      alertEvent('web-02', { alertname: 'DiskFull' }), // other host: not silenced
      alertEvent('web-03', { alertname: 'CPUHigh' }), // inhibited by HostOffline on web-03
      alertEvent('web-04', { alertname: 'CPUHigh' }), // not inhibited
    ]);
    await waitFor(() => hook.accepted().length >= 4, { what: 'first notifications' });
    await sleep(300);
    const sent = () => hook.bodies<HookBody>().flatMap(alertsIn).sort();
    assert.deepEqual(sent(), ['firing:CPUHigh@web-01', 'firing:CPUHigh@web-04', 'firing:DiskFull@web-02', 'firing:HostOffline@web-03']);

    // Muted alerts are kept and shown with what mutes them.
    const fp = (alertname: string, host: string) => fingerprint({ alertname, host });
    assert.deepEqual(am.get(fp('DiskFull', 'web-01'))!.silencedBy, [silence.id]);
    assert.equal(am.get(fp('DiskFull', 'web-01'))!.status, 'firing');
    assert.deepEqual(am.get(fp('CPUHigh', 'web-03'))!.inhibitedBy, [fingerprint({ alertname: 'HostOffline', host: 'web-03', severity: 'critical' })]);
    assert.deepEqual(am.get(fp('CPUHigh', 'web-04'))!.inhibitedBy, []);
    assert.deepEqual(am.get(fp('CPUHigh', 'web-01'))!.silencedBy, []);

    // The silence ends: the next group flush sends the alert it held back, and nothing else new.
    await waitFor(() => sent().includes('firing:DiskFull@web-01'), { what: 'notification after the silence expired', timeout: 3000 });
    assert.ok(Date.now() >= silence.endsAtMs, 'expected: Date.now() >= silence.endsAtMs');
    assert.equal(sent().length, 5);

    // The host returns: HostOffline resolves (one resolved notice) and the inhibited alert goes out.
    am.onHostStatus({ hostId: 'web-03', from: 'offline', to: 'online', atMs: Date.now(), reason: 'heartbeat received' });
    await waitFor(() => sent().includes('resolved:HostOffline@web-03') && sent().includes('firing:CPUHigh@web-03'), { what: 'resolved + uninhibited', timeout: 3000 });
    await sleep(900);
    assert.deepEqual(sent(), ['firing:CPUHigh@web-01', 'firing:CPUHigh@web-03', 'firing:CPUHigh@web-04', 'firing:DiskFull@web-01', 'firing:DiskFull@web-02', 'firing:HostOffline@web-03', 'resolved:HostOffline@web-03']);
  });

  it('a removed silence stops muting at once', async () => {
    const hook = await fake(new FakeWebhook());
    const { am } = await manager(['group_wait: 100ms', 'group_interval: 300ms', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}" }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
    const s = am.silences.add({ matchers: [{ name: 'alertname', op: '=~', value: 'Disk.*' }], endsAtMs: Date.now() + 3_600_000, createdBy: 't', comment: '' });
    am.onEvents([alertEvent('web-01', { alertname: 'DiskFull' })]);
    await sleep(500);
    assert.equal(hook.requests.length, 0);
    assert.equal(am.silences.remove(s.id), true);
    assert.equal(am.silences.remove(s.id), false);
    await waitFor(() => hook.accepted().length === 1, { what: 'notification after removal', timeout: 2000 });
  });
});

describe('alert lifecycle', () => {
  it('resolve_timeout resolves an alert nobody re-asserts; a re-asserted one stays firing', async () => {
    const hook = await fake(new FakeWebhook());
    const { am } = await manager(['group_wait: 50ms', 'group_interval: 200ms', 'resolve_timeout: 600ms', 'sweep_interval: 50ms', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}" }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
    am.onEvents([alertEvent('web-01', { alertname: 'Gone' }), alertEvent('web-01', { alertname: 'Alive' })]);
    const t0 = Date.now();
    const timer = setInterval(() => am.onEvents([alertEvent('web-01', { alertname: 'Alive' })]), 100);
    try {
      await waitFor(() => am.get(fingerprint({ alertname: 'Gone', host: 'web-01' }))?.status === 'resolved', { what: 'Gone resolved', timeout: 3000 });
      assert.ok(Date.now() - t0 >= 550, 'expected: Date.now() - t0 >= 550');
      assert.equal(am.get(fingerprint({ alertname: 'Alive', host: 'web-01' }))!.status, 'firing');
      await waitFor(() => hook.bodies<HookBody>().some((b) => alertsIn(b).includes('resolved:Gone@web-01')), { what: 'resolved notification' });
      assert.equal(am.stats.expired, 1);
    } finally {
      clearInterval(timer);
    }
  });

  it('an event-level resolve_timeout overrides the default; a late firing older than the resolution is ignored', async () => {
    const { am } = await manager(['resolve_timeout: 1h', 'sweep_interval: 50ms'].join('\n'));
    am.onEvents([alertEvent('web-01', { alertname: 'Short' }, 'firing', { resolveTimeoutS: 1 })]);
    await waitFor(() => am.list('resolved').length === 1, { what: 'resolved after 1s', timeout: 3000 });
    const resolvedAt = Date.parse(am.list('resolved')[0]!.endsAt!);
    am.onEvents([alertEvent('web-01', { alertname: 'Short' }, 'firing', { tsMs: resolvedAt - 5000 })]);
    assert.equal(am.list('firing').length, 0);
    assert.equal(am.stats.stale, 1);
  });

  it('a malformed alert event is counted and skipped; the rest of the batch is processed', async () => {
    const { am, db } = await manager('group_wait: 1s');
    const good = alertEvent('web-01', { alertname: 'Good' });
    const noPayload = { ...alertEvent('web-01', { alertname: 'X' }), alert: undefined };
    const noName = alertEvent('web-01', { severity: 'critical' });
    const badLabel = alertEvent('web-01', { alertname: 'Bad', 'bad-label': 'x' });
    const noState = alertEvent('web-01', { alertname: 'NoState' });
    noState.alert!.state = Alert_State.STATE_UNSPECIFIED;
    const notAlert = { ...good, id: 'web-01:test:hb', kind: 'hb', alert: undefined };
    assert.doesNotThrow(() => am.onEvents([noPayload, good, noName, badLabel, noState, notAlert]));
    assert.equal(am.stats.malformed, 4);
    assert.equal(am.stats.alertEvents, 5);
    assert.deepEqual(am.list('firing').map((a) => a.labels.alertname), ['Good']);
    const row = db.prepare<[], { value: number }>("SELECT value FROM counters WHERE name = 'alert_events_malformed'").get();
    assert.equal(row?.value, 4);
  });

  it('a controller restart keeps alert, silence and notification state: nothing is re-sent, the resolution still is', async () => {
    const hook = await fake(new FakeWebhook());
    const yaml = ['group_wait: 100ms', 'group_interval: 300ms', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}" }`, 'routes:', '  - { receivers: [hook] }'].join('\n');
    const first = await manager(yaml, 'restart');
    first.am.onEvents([alertEvent('web-01', { alertname: 'DiskFull' }), alertEvent('web-02', { alertname: 'Muted' })]);
    const s = first.am.silences.add({ matchers: [{ name: 'alertname', op: '=', value: 'Muted' }], endsAtMs: Date.now() + 3_600_000, createdBy: 'ops', comment: 'known' });
    await waitFor(() => hook.accepted().length === 1, { what: 'first notification' });
    await logRows(first.am, 1); // delivered and recorded before the "restart"
    await first.close();

    const second = await manager(yaml, 'restart');
    assert.deepEqual(second.am.list('firing').map((a) => a.labels.alertname).sort(), ['DiskFull', 'Muted']);
    assert.deepEqual(second.am.get(fingerprint({ alertname: 'Muted', host: 'web-02' }))!.silencedBy, [s.id]);
    assert.equal(second.am.notifyStore.list({ limit: 10 }).length, 1);
    await sleep(800); // group_wait and a group_interval pass: already told, nothing to send
    assert.equal(hook.requests.length, 1);
    second.am.onEvents([alertEvent('web-01', { alertname: 'DiskFull' }, 'resolved')]);
    await waitFor(() => hook.accepted().length === 2, { what: 'resolved after restart' });
    assert.deepEqual(alertsIn(hook.bodies<HookBody>()[1]!), ['resolved:DiskFull@web-01']);
  });
});

describe('enabled: false', () => {
  it('stores and shows alerts but notifies nothing', async () => {
    const hook = await fake(new FakeWebhook());
    const { am } = await manager(['enabled: false', 'group_wait: 50ms', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}" }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
    am.onEvents([alertEvent('web-01', { alertname: 'Quiet' })]);
    await sleep(300);
    assert.equal(am.list('firing').length, 1);
    assert.equal(hook.requests.length, 0);
  });
});

describe('routing', () => {
  it('first match wins unless continue; a catch-all route takes the rest', async () => {
    const a = await fake(new FakeWebhook());
    const b = await fake(new FakeWebhook());
    const c = await fake(new FakeWebhook());
    const { am } = await manager(
      [
        'group_wait: 100ms',
        'receivers:',
        `  - { name: crit, type: webhook, url: "${a.url}" }`,
        `  - { name: db, type: webhook, url: "${b.url}" }`,
        `  - { name: rest, type: webhook, url: "${c.url}" }`,
        'routes:',
        '  - { match: { severity: critical }, receivers: [crit], continue: true }',
        '  - { match_re: { host: "db-.*" }, receivers: [db] }',
        '  - { receivers: [rest] }',
      ].join('\n'),
    );
    am.onEvents([
      alertEvent('db-01', { alertname: 'A', severity: 'critical' }), // crit + db
      alertEvent('web-01', { alertname: 'B', severity: 'critical' }), // crit + rest
      alertEvent('db-02', { alertname: 'C', severity: 'warning' }), // db
      alertEvent('xdb-01', { alertname: 'D' }), // rest (anchored regex)
    ]);
    await waitFor(() => a.accepted().length === 2 && b.accepted().length === 2 && c.accepted().length === 2, { what: 'routed notifications' });
    await sleep(200);
    const got = (f: FakeWebhook) => f.bodies<HookBody>().flatMap(alertsIn).sort();
    assert.deepEqual(got(a), ['firing:A@db-01', 'firing:B@web-01']);
    assert.deepEqual(got(b), ['firing:A@db-01', 'firing:C@db-02']);
    assert.deepEqual(got(c), ['firing:B@web-01', 'firing:D@xdb-01']);
  });
});
