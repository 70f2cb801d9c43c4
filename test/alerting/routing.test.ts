import { strict as assert } from 'node:assert';
import { after, afterEach, describe, it } from 'node:test';
import { Router } from '../../controller/alerts/router.js';
import { alertingSchema } from '../../shared/config/alerting.js';
import { parseConfigText } from '../../shared/config/load.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeDingtalk, FakeFeishu, FakeWebhook, FakeWecom } from './fakes.js';
import { startManager } from './harness.js';

// Issue 17: a routing tree like Alertmanager's, time intervals, @mentions per route and severity.
const cfg = (yaml: string) => parseConfigText(yaml, 'alerting.yaml', alertingSchema, {});
const recv = ['receivers:', ...['a', 'b', 'c', 'd', 'e'].map((n) => `  - { name: ${n}, type: webhook, url: "http://127.0.0.1:1/${n}" }`)].join('\n');
const reach = (r: Router, labels: Record<string, string>) => r.match(labels).map((x) => `${x.id}:${x.receivers.join('+')}`);

describe('routing tree', () => {
  const tree = cfg(
    [
      recv,
      'group_by: [alertname]',
      'routes:',
      '  - matchers: [\'team="db"\']',
      '    receivers: [a]',
      '    group_by: [alertname, cluster]',
      '    group_wait: 5s',
      '    routes:',
      '      - matchers: [\'severity=~"critical|error"\']',
      '        receivers: [b]',
      '        continue: true',
      '      - { match: { env: prod }, group_interval: 2m }',
      '  - { match: { team: web }, receivers: [c], continue: true }',
      '  - { match_re: { alertname: "Disk.*" }, receivers: [d] }',
      '  - { receivers: [e] }',
    ].join('\n'),
  );
  const r = new Router(tree);

  it('walks depth first: a child takes the alert; a node with no matching child takes it itself', () => {
    assert.deepEqual(reach(r, { alertname: 'X', team: 'db' }), ['route0:a']);
    assert.deepEqual(reach(r, { alertname: 'X', team: 'db', env: 'prod' }), ['route0.1:a'], 'the child inherits its parent\'s receivers');
    // continue on the first child: the second child is tried too.
    assert.deepEqual(reach(r, { alertname: 'X', team: 'db', env: 'prod', severity: 'critical' }), ['route0.0:b', 'route0.1:a']);
    assert.deepEqual(reach(r, { alertname: 'X', team: 'db', severity: 'error' }), ['route0.0:b']);
  });

  it('top-level routes keep today\'s flat meaning: first match wins unless continue', () => {
    assert.deepEqual(reach(r, { alertname: 'DiskFull', team: 'web' }), ['route1:c', 'route2:d']);
    assert.deepEqual(reach(r, { alertname: 'DiskFull' }), ['route2:d']);
    assert.deepEqual(reach(r, { alertname: 'Other' }), ['route3:e']);
  });

  it('children inherit group_by and timings unless they set their own', () => {
    const byId = new Map(r.all().map((x) => [x.id, x]));
    assert.deepEqual(byId.get('route0.1')!.groupBy, ['alertname', 'cluster']);
    assert.equal(byId.get('route0.1')!.groupWaitMs, 5000);
    assert.equal(byId.get('route0.1')!.groupIntervalMs, 120_000);
    assert.equal(byId.get('route0.0')!.groupIntervalMs, tree.group_interval);
    assert.deepEqual(byId.get('route3')!.groupBy, ['alertname']);
  });

  it('config errors name the nested route: unknown receiver, no receivers anywhere, bad matcher, unknown interval', () => {
    const yaml = [recv, 'routes:', '  - match: { a: b }', '    routes:', '      - { receivers: [zz] }', '      - { matchers: ["severity=~(a)\\\\1"], receivers: [a] }', '  - { match: { x: y }, mute_time_intervals: [nope], receivers: [a] }', '  - { match: { y: z } }'].join('\n');
    assert.throws(
      () => cfg(yaml),
      (e: unknown) => {
        const m = (e as Error).message;
        return (
          /alerting\.yaml:10:\d+ routes\[0\]\.routes\[0\]\.receivers\[0\]: unknown receiver "zz"/.test(m) &&
          /alerting\.yaml:11:\d+ routes\[0\]\.routes\[1\]\.matchers\[0\]: invalid regex/.test(m) &&
          /alerting\.yaml:12:\d+ routes\[1\]\.mute_time_intervals\[0\]: unknown time interval "nope"/.test(m) &&
          /alerting\.yaml:13:\d+ routes\[2\]\.receivers: a route needs receivers/.test(m) &&
          !/routes\[0\]\.receivers:/.test(m)
        );
      },
    );
  });
});

describe('time intervals (fake clock, Asia/Shanghai has no DST)', () => {
  const tcfg = cfg(
    [
      recv,
      'time_intervals:',
      '  - name: office-hours',
      '    time_intervals:',
      '      - { weekdays: ["monday:friday"], times: [{ start_time: "09:00", end_time: "18:00" }], location: Asia/Shanghai }',
      '  - name: weekend',
      '    time_intervals:',
      '      - { weekdays: [saturday, sunday], location: Asia/Shanghai }',
      '  - name: holidays',
      '    time_intervals:',
      '      - { months: [october], days_of_month: ["1:7"], years: ["2026"], location: Asia/Shanghai }',
      '      - { months: [december], days_of_month: ["-1"], location: Asia/Shanghai }',
      'routes:',
      '  - { match: { team: office }, receivers: [a], active_time_intervals: [office-hours], mute_time_intervals: [holidays] }',
      '  - { match: { team: weekday }, receivers: [b], mute_time_intervals: [weekend] }',
    ].join('\n'),
  );
  const r = new Router(tcfg);
  const office = r.routes[0]!;
  const weekday = r.routes[1]!;
  // Wall-clock times in Shanghai (UTC+8 all year).
  const sh = (iso: string) => Date.parse(`${iso}+08:00`);

  it('active only in office hours, in the location\'s timezone', () => {
    assert.equal(r.muted(office, sh('2026-12-02T09:00:00')), false, 'Wednesday 09:00 Shanghai');
    assert.equal(r.muted(office, sh('2026-12-02T17:59:00')), false);
    assert.equal(r.muted(office, sh('2026-12-02T18:00:00')), true, 'end is exclusive');
    assert.equal(r.muted(office, sh('2026-12-02T08:59:00')), true);
    // 02:00 UTC on a Wednesday is 10:00 in Shanghai: active, though UTC would say night.
    assert.equal(r.muted(office, Date.parse('2026-12-02T02:00:00Z')), false);
  });

  it('a weekend mutes: Saturday and Sunday in Shanghai, also when UTC still says Friday', () => {
    assert.equal(r.muted(weekday, sh('2026-12-05T00:30:00')), true, 'Saturday 00:30 Shanghai = Friday 16:30 UTC');
    assert.equal(r.muted(weekday, sh('2026-12-06T23:59:00')), true);
    assert.equal(r.muted(weekday, sh('2026-12-07T00:00:00')), false, 'Monday');
    assert.equal(r.muted(office, sh('2026-12-05T10:00:00')), true, 'office hours are weekdays only');
  });

  it('holidays mute office hours (a date range, and the last day of a month)', () => {
    assert.equal(r.muted(office, sh('2026-10-02T10:00:00')), true, 'National Day holiday, a Friday');
    assert.equal(r.muted(office, sh('2026-10-08T10:00:00')), false);
    assert.equal(r.muted(office, sh('2026-12-31T10:00:00')), true, 'day -1 of December');
    assert.equal(r.muted(office, sh('2026-12-30T10:00:00')), false);
  });

  it('the dispatcher sends nothing while muted and sends what fires once the interval ends', { timeout: 60_000 }, async () => {
    const dir = tempDir('opsfleet-alert-ti-');
    let clock = sh('2026-12-05T10:00:00'); // Saturday
    // A webhook without signing: the fake clock's timestamps would fail a robot's clock check.
    const ding = new FakeWebhook();
    await ding.start();
    const m = await startManager(
      ['group_wait: 0s', 'group_interval: 100ms', 'time_intervals:', '  - { name: weekend, time_intervals: [{ weekdays: [saturday, sunday], location: Asia/Shanghai }] }', 'receivers:', `  - { name: ding, type: webhook, url: "${ding.url}/h" }`, 'routes:', '  - { receivers: [ding], mute_time_intervals: [weekend] }'].join('\n'),
      dir.path,
      process.env,
      () => clock,
    );
    try {
      m.am.push([{ labels: { alertname: 'WeekendDisk', host: 'h1' } }]);
      await waitFor(() => m.am.dispatcher.stats.mutedByTime >= 3, { what: 'muted flushes' });
      assert.equal(ding.requests.length, 0);
      clock = sh('2026-12-07T09:00:00'); // Monday
      await waitFor(() => ding.accepted().length === 1, { what: 'delivery after the weekend' });
      assert.match(ding.accepted()[0]!.raw, /WeekendDisk/);
    } finally {
      await m.close();
      await ding.stop();
      dir.cleanup();
    }
  });
});

describe('@mentions per route and severity, in each robot\'s format', () => {
  const dir = tempDir('opsfleet-alert-at-');
  after(() => dir.cleanup());
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it('DingTalk atMobiles/atUserIds with @ in the text, WeCom mentioned lists, Feishu <at>', { timeout: 60_000 }, async () => {
    const ding = new FakeDingtalk('t', 'SECx');
    const wecom = new FakeWecom('k');
    const feishu = new FakeFeishu('tok', 'fsecret');
    for (const f of [ding, wecom, feishu]) {
      await f.start();
      cleanups.push(() => f.stop());
    }
    const m = await startManager(
      [
        'group_wait: 0s',
        'group_by: [alertname]',
        'receivers:',
        `  - { name: ding, type: dingtalk, webhook: "${ding.webhook}", secret: SECx }`,
        `  - { name: wecom, type: wecom, webhook: "${wecom.webhook}", msgtype: text }`,
        `  - { name: feishu, type: feishu, webhook: "${feishu.webhook}", secret: fsecret }`,
        'routes:',
        '  - receivers: [ding, wecom, feishu]',
        '    at: { mobiles: ["13800000001"] }',
        '    at_by_severity:',
        '      critical: { user_ids: ["ou_oncall"], all: false }',
        '      page: { all: true }',
      ].join('\n'),
      `${dir.path}/m`,
    );
    cleanups.push(m.close);
    m.am.push([{ labels: { alertname: 'Warn', severity: 'warning' } }, { labels: { alertname: 'Crit', severity: 'critical' } }]);
    await waitFor(() => ding.accepted().length === 2 && wecom.accepted().length === 2 && feishu.accepted().length === 2, { what: 'six messages' });
    for (const f of [ding, wecom, feishu]) assert.deepEqual(f.requests.map((r) => r.problems), [[], []]);
    const byAlert = <T>(reqs: Array<{ body: unknown; raw: string }>, name: string) => reqs.find((r) => r.raw.includes(name))!.body as T;
    type Ding = { at: { atMobiles: string[]; atUserIds?: string[]; isAtAll: boolean }; markdown: { text: string } };
    assert.deepEqual(byAlert<Ding>(ding.requests, 'Warn').at, { atMobiles: ['13800000001'], isAtAll: false });
    const dc = byAlert<Ding>(ding.requests, 'Crit');
    assert.deepEqual(dc.at, { atMobiles: ['13800000001'], atUserIds: ['ou_oncall'], isAtAll: false });
    assert.match(dc.markdown.text, /@13800000001 @ou_oncall/);
    type We = { text: { mentioned_mobile_list: string[]; mentioned_list?: string[] } };
    assert.deepEqual(byAlert<We>(wecom.requests, 'Crit').text.mentioned_list, ['ou_oncall']);
    assert.deepEqual(byAlert<We>(wecom.requests, 'Warn').text.mentioned_mobile_list, ['13800000001']);
    const fc = feishu.contents().find((c) => c.includes('Crit'))!;
    assert.match(fc, /<at id=ou_oncall><\/at>/);
  });
});
