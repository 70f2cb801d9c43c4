import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { OpsError } from '../../shared/errors.js';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';
import { postJson, startApi, startManager } from './harness.js';

// Issue 17: Liquid templates per receiver in files (no code execution), zh/en defaults,
// reloaded on SIGHUP, opsctl notify preview and opsctl alerts routes test.
const dir = tempDir('opsfleet-alert-tpl-');
after(() => dir.cleanup());
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
let n = 0;
async function manager(receivers: string[], extra: string[] = []) {
  const m = await startManager(['group_wait: 1h', ...extra, 'receivers:', ...receivers, 'routes:', `  - { receivers: [${receivers.map((r) => /name: ([\w-]+)/.exec(r)![1]).join(', ')}] }`].join('\n'), `${dir.path}/m-${++n}`);
  cleanups.push(m.close);
  const api = await startApi(m.am);
  cleanups.push(api.close);
  return { ...m, url: api.url };
}
const alert = { labels: { alertname: 'DiskFull', host: 'web-01', severity: 'critical', mount: '/data' }, annotations: { summary: '95% full', description: 'grows 1 GB/h' } };
type Ding = { markdown: { title: string; text: string } };

describe('receiver templates', () => {
  it('a Liquid template file renders each alert; SIGHUP reload picks up a change; a broken file keeps the previous one', async () => {
    const file = join(dir.path, 'ding.liquid');
    writeFileSync(file, '### {{ alertname }} on {{ host }} ({{ labels.mount }}): {{ annotations.summary | upcase }}\n');
    const { am } = await manager([`  - { name: ding, type: dingtalk, webhook: "http://127.0.0.1:1/robot/send", template_file: "${file}" }`]);
    const a = am.preview('ding', [alert]).body as Ding;
    assert.match(a.markdown.text, /### DiskFull on web-01 \(\/data\): 95% FULL\n/);
    writeFileSync(file, '{% if severity == "critical" %}🚨 {% endif %}{{ alertname }} / {{ description }}');
    assert.deepEqual(am.reload(), []);
    assert.match((am.preview('ding', [alert]).body as Ding).markdown.text, /🚨 DiskFull \/ grows 1 GB\/h\n/);
    writeFileSync(file, '{% if %}broken');
    const problems = am.reload();
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /receiver ding: template .*ding\.liquid/);
    assert.match((am.preview('ding', [alert]).body as Ding).markdown.text, /🚨 DiskFull/, 'previous template kept');
  });

  it('templates cannot run code, read files or loop forever: those alerts fall back to the default block', async () => {
    const file = join(dir.path, 'evil.liquid');
    const { am } = await manager([`  - { name: ding, type: dingtalk, webhook: "http://127.0.0.1:1/robot/send", template_file: "${file}" }`].map((r) => (writeFileSync(file, 'x'), r)));
    for (const [tpl, check] of [
      ['[{{ alert.constructor }}][{{ labels.__proto__ }}][{{ alertname.constructor.name }}]', (t: string) => t.includes('[][][]')],
      ["{% include '/etc/passwd' %}", (t: string) => !t.includes('root:') && t.includes('95% full')],
      ['{% for i in (1..100000000) %}{% for j in (1..100000000) %}x{% endfor %}{% endfor %}', (t: string) => t.includes('95% full') && t.length < 20_000],
    ] as const) {
      writeFileSync(file, tpl);
      assert.deepEqual(am.reload(), [], tpl);
      const text = (am.preview('ding', [alert]).body as Ding).markdown.text;
      assert.ok(check(text), `${tpl}\n${text.slice(0, 300)}`);
    }
  });

  it('a template file that does not parse stops the start with OPS_ERR_TEMPLATE naming it', async () => {
    const file = join(dir.path, 'bad.liquid');
    writeFileSync(file, '{{ unclosed');
    await assert.rejects(
      startManager(['receivers:', `  - { name: w, type: wecom, webhook: "http://127.0.0.1:1/x", template_file: "${file}" }`].join('\n'), `${dir.path}/bad`),
      (e: unknown) => e instanceof OpsError && e.code === 'OPS_ERR_TEMPLATE' && e.message.includes('bad.liquid') && e.message.includes('receiver w'),
    );
  });

  it('default templates in Chinese and in English', async () => {
    const { am } = await manager([`  - { name: zh, type: wecom, webhook: "http://127.0.0.1:1/x", language: zh }`, `  - { name: en, type: feishu, webhook: "http://127.0.0.1:1/y", language: en }`]);
    const zh = (am.preview('zh', [alert]).body as { markdown: { content: string } }).markdown.content;
    assert.match(zh, /告警:1/);
    assert.match(zh, /级别\*\*: critical/);
    assert.ok(!/severity|FIRING/.test(zh), zh);
    const en = JSON.stringify(am.preview('en', [alert]).body);
    assert.match(en, /FIRING:1/);
    assert.match(en, /severity\*\*: critical/);
    assert.ok(!/级别|告警/.test(en), en);
  });
});

describe('opsctl notify preview and opsctl alerts routes test', () => {
  it('preview prints the exact body without sending; routes test names the receivers', { timeout: 60_000 }, async () => {
    const { url, am } = await manager(
      [`  - { name: ding, type: dingtalk, webhook: "http://127.0.0.1:1/robot/send", at_mobiles: ["13800000000"] }`, `  - { name: hook, type: webhook, url: "http://127.0.0.1:1/h" }`],
      [],
    );
    const file = join(dir.path, 'alert.json');
    writeFileSync(file, JSON.stringify(alert));
    const r = await runCommand('opsctl', ['notify', 'preview', '--receiver', 'ding', '--alert', file, '--controller', url]);
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout) as Ding & { at: { atMobiles: string[] } };
    assert.match(body.markdown.title, /DiskFull web-01/);
    assert.deepEqual(body.at.atMobiles, ['13800000000']);
    assert.equal(am.notifyStore.list({ limit: 10 }).length, 0, 'nothing sent');
    const bad = await runCommand('opsctl', ['notify', 'preview', '--receiver', 'nope', '--alert', file, '--controller', url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /OPS_ERR_RECEIVER_UNKNOWN/);
    const t = await runCommand('opsctl', ['alerts', 'routes', 'test', '--labels', 'alertname=DiskFull', 'severity=critical', '--controller', url]);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(t.stdout.split('\n')[0], 'ding,hook');
    assert.match(t.stdout, /route0/);
    const api = await postJson<{ receivers: string[] }>(`${url}/api/v1/alerts/routes/test`, { labels: { alertname: 'X' } });
    assert.deepEqual(api.body.receivers, ['ding', 'hook']);
  });
});
