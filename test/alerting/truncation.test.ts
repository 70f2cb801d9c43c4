import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { render } from '../../controller/notify/template.js';
import { cutGraphemes } from '../../controller/notify/text-cut.js';
import type { AlertView, OutgoingMessage } from '../../controller/notify/types.js';
import { WebhookReceiver, type WebhookBody } from '../../controller/notify/webhook.js';
import { WecomReceiver } from '../../controller/notify/wecom.js';

// Issue 20 items 1 and 6: cutting messages to their limits, linearly and legibly.
const alert = (i: number, extra: Partial<AlertView> = {}): AlertView => ({
  fingerprint: i.toString(16).padStart(16, '0'),
  status: 'firing',
  labels: { alertname: `Burst${i}`, host: `web-${String(i % 100).padStart(2, '0')}`, severity: 'warning' },
  annotations: { summary: `burst alert number ${i} with a few words of text` },
  startsAt: '2026-12-02T10:00:00.000Z',
  endsAt: null,
  count: 1,
  ...extra,
});
const digest = (n: number): OutgoingMessage => ({
  kind: 'digest',
  merged: n,
  groups: Array.from({ length: n }, (_, i) => ({ groupKey: `route0:{"alertname":"Burst${i}"}`, groupLabels: { alertname: `Burst${i}` }, status: 'firing' as const, firing: [alert(i)], resolved: [] })),
});
const hookCfg = (max: number) => ({ name: 'hook', type: 'webhook' as const, url: 'http://127.0.0.1:1/', headers: {}, rate_limit: { count: 60, per: 60_000 }, max_bytes: max, timeout: 1000, send_resolved: true, language: 'both' as const });

describe('webhook body truncation (10,000-alert digest)', () => {
  // The old loop re-serialized the body once per dropped batch: minutes for this input. The
  // test's timeout is the failure, not a timed assertion (speed is in bench/alerts.bench.ts).
  it('fits max_bytes, keeps the first alerts, never sends empty groups, counts and links the rest', { timeout: 60_000 }, () => {
    const r = new WebhookReceiver(hookCfg(1_000_000), () => Date.parse('2026-12-02T12:00:00Z'), 'https://ops.example.com/');
    const msg = digest(10_000);
    const full = Buffer.byteLength(JSON.stringify(msg.groups));
    assert.ok(full > 1_000_000, `input of ${full} bytes is over the limit`);
    const body = r.body(msg);
    const size = Buffer.byteLength(JSON.stringify(body));
    assert.ok(size <= 1_000_000, `body of ${size} bytes`);
    assert.ok(size > 900_000, `the budget is used (${size} bytes), not thrown away`);
    assert.ok(body.groups.every((g) => g.alerts.length > 0), 'no empty group');
    const kept = body.groups.flatMap((g) => g.alerts.map((a) => a.labels.alertname));
    assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => `Burst${i}`), 'the first alerts, in order');
    assert.equal(body.truncatedAlerts, 10_000 - kept.length);
    assert.equal(body.truncatedGroups, 10_000 - body.groups.length);
    assert.deepEqual(body.totals, { groups: 10_000, firing: 10_000, resolved: 0 });
    assert.equal(body.moreUrl, 'https://ops.example.com/api/v1/alerts?state=all');
  });

  it('sends everything untouched (no link) when it fits', () => {
    const body: WebhookBody = new WebhookReceiver(hookCfg(1_000_000), Date.now, 'https://ops.example.com').body(digest(10));
    assert.equal(body.truncatedAlerts, 0);
    assert.equal(body.groups.length, 10);
    assert.equal(body.moreUrl, undefined);
  });

  it('never exceeds tiny limits, whatever the alert sizes', () => {
    for (const max of [512, 600, 700, 1500, 5000]) {
      const msg = digest(40);
      msg.groups[3]!.firing[0]!.annotations.description = '数据'.repeat(2000);
      const body = new WebhookReceiver(hookCfg(max), Date.now).body(msg);
      assert.ok(Buffer.byteLength(JSON.stringify(body)) <= max, `max ${max}`);
      assert.ok(body.groups.every((g) => g.alerts.length > 0));
    }
  });
});

const ZWJ_FAMILY = '👨‍👩‍👧‍👦';
const RLI = '\u2067';
const PDI = '\u2069';

describe('text cuts on grapheme boundaries', () => {
  it('never ends on a dangling ZWJ or inside a ZWJ sequence', () => {
    const s = `x${ZWJ_FAMILY.repeat(50)}`;
    for (let max = 1; max < 200; max++) {
      const c = cutGraphemes(s, max);
      assert.ok(Buffer.byteLength(c) <= max);
      assert.ok(!c.endsWith('\u200D'), `max ${max}`);
      assert.equal(c.slice(1).length % ZWJ_FAMILY.length, 0, `max ${max}: whole families only`);
    }
  });

  it('closes a right-to-left isolate it cut into', () => {
    const s = `host ${RLI}${'שלום עולם '.repeat(40)}${PDI} down`;
    for (const max of [20, 60, 150, 300]) {
      const c = cutGraphemes(s, max, '…');
      assert.ok(Buffer.byteLength(c) <= max, `max ${max}`);
      if (c.includes(RLI)) assert.ok(c.endsWith(PDI), `max ${max}: the isolate is closed`);
    }
  });

  it('WeCom text with long descriptions keeps the first alerts and their names, within 2048 bytes', () => {
    const long = `${'磁盘使用率过高，请尽快清理日志目录。'.repeat(40)}${ZWJ_FAMILY}${RLI}עברית${PDI}`;
    const msg: OutgoingMessage = {
      kind: 'notify',
      merged: 1,
      groups: [{ groupKey: 'g', groupLabels: { alertname: 'DiskFull' }, status: 'firing', firing: Array.from({ length: 60 }, (_, i) => alert(i, { labels: { alertname: `DiskFull${i}`, host: `db-${i}` }, annotations: { summary: 's', description: long } })), resolved: [] }],
    };
    const r = new WecomReceiver({ name: 'w', type: 'wecom', webhook: 'http://127.0.0.1:1/', msgtype: 'text', mentioned_mobile_list: [], rate_limit: { count: 18, per: 60_000 }, max_bytes: 4096, ban_pause: 60_000, timeout: 1000, send_resolved: true, language: 'both' as const });
    const { body } = r.body(msg);
    const content = (body as { text: { content: string } }).text.content;
    assert.ok(Buffer.byteLength(content) <= 2048, `${Buffer.byteLength(content)} bytes`);
    assert.ok(content.includes('DiskFull0 @ db-0'), 'the first alert is there, cut rather than dropped');
    assert.match(content, /… 59 more \(60 alerts in total\): DiskFull1@db-1, DiskFull2@db-2/);
    assert.ok(!/\u200D$/m.test(content));
    assert.equal([...content.matchAll(/\u2067/g)].length, [...content.matchAll(/\u2069/g)].length, 'every isolate closed');
  });

  it('render keeps whole blocks while they fit (no cut when the first alert fits)', () => {
    const r = render(digest(100), 'markdown', 3000);
    assert.ok(Buffer.byteLength(r.text) <= 3000);
    assert.ok(r.text.includes('#### 🟠 Burst0 @ web-00\n'));
    assert.match(r.text, new RegExp(`… ${r.truncated} more \\(100 alerts in total\\): Burst\\d+@web-\\d+`));
  });
});
