import { strict as assert } from 'node:assert';
import { after, afterEach, describe, it } from 'node:test';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeDingtalk, FakeSmtp, FakeWebhook, FakeWecom } from './fakes.js';
import { alertEvent, logRows, startManager } from './harness.js';

const dir = tempDir('opsfleet-alert-recv-');
after(() => dir.cleanup());
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let n = 0;
async function manager(yaml: string) {
  // Inside dir.path (a sibling `<dir>-N` outlived the cleanup and piled up in /tmp).
  const m = await startManager(yaml, `${dir.path}/m${++n}`);
  cleanups.push(m.close);
  return m;
}
async function fake<T extends { start(): Promise<T>; stop(): Promise<void> }>(f: T): Promise<T> {
  await f.start();
  cleanups.push(() => f.stop());
  return f;
}

const timings = ['group_wait: 100ms', 'group_interval: 1s', 'repeat_interval: 1h', 'retry: { attempts: 3, initial: 50ms, max: 200ms }'];

describe('DingTalk receiver against a local DingTalk stand-in', () => {
  it('sends a signed markdown message with the exact documented shape and @mobiles', async () => {
    const ding = await fake(new FakeDingtalk('tok123', 'SECabc+/='));
    const { am } = await manager(
      [...timings, 'receivers:', `  - { name: ding, type: dingtalk, webhook: "${ding.webhook}", secret: "SECabc+/=", at_mobiles: ["13800000000"] }`, 'routes:', '  - { receivers: [ding] }'].join('\n'),
    );
    am.onEvents([alertEvent('web-01', { alertname: 'DiskFull', severity: 'critical' }, 'firing', { annotations: { summary: '磁盘 /data 使用率 95%' } })]);
    await waitFor(() => ding.accepted().length === 1, { what: 'DingTalk message' });
    assert.deepEqual(ding.requests.map((r) => r.problems), [[]]);
    const body = ding.requests[0]!.body as { markdown: { title: string; text: string }; at: { atMobiles: string[]; isAtAll: boolean } };
    assert.match(body.markdown.title, /FIRING:1\] DiskFull web-01/);
    for (const s of ['DiskFull', 'web-01', 'critical', '磁盘 /data 使用率 95%', '@13800000000']) assert.ok(body.markdown.text.includes(s), s);
    assert.deepEqual(body.at, { atMobiles: ['13800000000'], isAtAll: false });
    const log = await logRows(am, 1);
    assert.equal(log.length, 1);
    assert.equal(log[0]!.outcome, 'ok');
    assert.equal(log[0]!.detail, 'errcode 0: ok');
  });

  it('a wrong secret is a permanent errcode failure, not retried', async () => {
    const ding = await fake(new FakeDingtalk('tok', 'SECright'));
    const { am } = await manager([...timings, 'receivers:', `  - { name: ding, type: dingtalk, webhook: "${ding.webhook}", secret: "SECwrong" }`].join('\n'));
    const r = await am.testReceiver('ding');
    assert.equal(r.ok, false);
    assert.equal(r.code, 'OPS_ERR_NOTIFY_REJECTED');
    assert.match(r.detail, /errcode 310000/);
  });

  it('answers 500 then 200: retried with backoff and delivered, every attempt logged', async () => {
    const ding = await fake(new FakeDingtalk('tok', 'SECx'));
    ding.script = [{ status: 500, body: { error: 'internal' } }];
    const { am } = await manager([...timings, 'receivers:', `  - { name: ding, type: dingtalk, webhook: "${ding.webhook}", secret: "SECx" }`, 'routes:', '  - { receivers: [ding] }'].join('\n'));
    am.onEvents([alertEvent('web-01', { alertname: 'ServiceDown' })]);
    await waitFor(() => ding.accepted().length === 1, { what: 'delivery after retry' });
    assert.equal(ding.requests.length, 2);
    const log = await logRows(am, 2);
    assert.deepEqual(log.map((l) => [l.attempt, l.outcome, l.code]), [[1, 'retry', 'OPS_ERR_NOTIFY_HTTP'], [2, 'ok', '']]);
    assert.equal(am.workers.get('ding')!.stats.retries, 1);
    assert.equal(am.workers.get('ding')!.stats.failed, 0);
  });

  it('failing forever ends in the fallback receiver (real SMTP) and a logged, counted failure', async () => {
    const ding = await fake(new FakeDingtalk('tok', 'SECx'));
    ding.fallbackAnswer = { status: 502 };
    const smtp = await fake(new FakeSmtp());
    const { am, db } = await manager(
      [
        ...timings,
        'receivers:',
        `  - { name: ding, type: dingtalk, webhook: "${ding.webhook}", secret: "SECx" }`,
        `  - { name: mail, type: email, smtp: { host: 127.0.0.1, port: ${smtp.port}, secure: false, user: alerts, pass: secret-pass }, from: "opsfleet <alerts@example.com>", to: [oncall@example.com] }`,
        'routes:',
        '  - { receivers: [ding] }',
        'fallback_receiver: mail',
      ].join('\n'),
    );
    am.onEvents([alertEvent('db-01', { alertname: 'BackupFailed', severity: 'critical' })]);
    await waitFor(() => smtp.mails.length === 1, { what: 'fallback mail' });
    assert.equal(ding.requests.length, 3, 'three attempts');
    const mail = smtp.mails[0]!;
    assert.deepEqual(mail.to, ['oncall@example.com']);
    assert.equal(mail.user, 'alerts');
    assert.match(mail.raw, /FALLBACK from ding/);
    assert.match(mail.raw, /BackupFailed/);
    const w = am.workers.get('ding')!;
    assert.equal(w.stats.failed, 1);
    assert.equal(w.stats.fallbacks, 1);
    assert.equal(am.stats.notifyFailed, 1);
    assert.equal(db.prepare<[], { value: number }>("SELECT value FROM counters WHERE name = 'notifications_failed'").get()?.value, 1);
    const log = await logRows(am, 4);
    assert.deepEqual(log.map((l) => [l.receiver, l.kind, l.outcome]), [['ding', 'notify', 'retry'], ['ding', 'notify', 'retry'], ['ding', 'notify', 'failed'], ['mail', 'fallback', 'ok']]);
    // Delivered through the fallback counts as told: the next group_interval sends nothing new.
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(ding.requests.length, 3);
    assert.equal(smtp.mails.length, 1);
  });

  it('errcode 130101 pauses the robot, keeps the message and delivers it after the pause', async () => {
    const ding = await fake(new FakeDingtalk('tok', 'SECx'));
    ding.script = [{ status: 200, body: { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' } }];
    const { am } = await manager([...timings, 'receivers:', `  - { name: ding, type: dingtalk, webhook: "${ding.webhook}", secret: "SECx", ban_pause: 800ms }`, 'routes:', '  - { receivers: [ding] }'].join('\n'));
    am.onEvents([alertEvent('web-02', { alertname: 'HighLoad' })]);
    await waitFor(() => ding.requests.length === 1, { what: 'first request' });
    await waitFor(() => am.workers.get('ding')!.pausedMs > 0, { what: 'robot paused' });
    await waitFor(() => ding.accepted().length === 1, { what: 'delivery after pause', timeout: 5000 });
    assert.equal(ding.requests.length, 2, 'nothing sent during the pause');
    assert.ok(ding.requests[1]!.at - ding.requests[0]!.at >= 750, `${ding.requests[1]!.at - ding.requests[0]!.at}ms apart`);
    assert.equal(am.workers.get('ding')!.stats.paused, 1);
    assert.deepEqual((await logRows(am, 2)).map((l) => l.outcome), ['paused', 'ok']);
  });
});

describe('WeCom receiver against a local WeCom stand-in', () => {
  it('markdown within 4,096 bytes and text within 2,048 bytes with mentions, truncated with "… N more"', async () => {
    const wecom = await fake(new FakeWecom('key-1'));
    const { am } = await manager(
      [
        ...timings,
        'group_by: [alertname]',
        'receivers:',
        `  - { name: wc-md, type: wecom, webhook: "${wecom.webhook}" }`,
        `  - { name: wc-text, type: wecom, webhook: "${wecom.webhook}", msgtype: text, mentioned_mobile_list: ["13900000000"] }`,
        'routes:',
        '  - { receivers: [wc-md, wc-text] }',
      ].join('\n'),
    );
    am.onEvents(Array.from({ length: 60 }, (_, i) => alertEvent(`web-${String(i).padStart(2, '0')}`, { alertname: 'DiskFull', severity: 'warning' }, 'firing', { annotations: { summary: `disk /var is 9${i % 10}% full`, description: '清理日志或扩容 '.repeat(5) } })));
    await waitFor(() => wecom.accepted().length === 2, { what: 'two WeCom messages' });
    assert.deepEqual(wecom.requests.map((r) => r.problems), [[], []]);
    const md = wecom.requests.find((r) => (r.body as { msgtype: string }).msgtype === 'markdown')!.body as { markdown: { content: string } };
    const text = wecom.requests.find((r) => (r.body as { msgtype: string }).msgtype === 'text')!.body as { text: { content: string; mentioned_mobile_list: string[] } };
    assert.ok(Buffer.byteLength(md.markdown.content) <= 4096, 'expected: Buffer.byteLength(md.markdown.content) <= 4096');
    assert.ok(Buffer.byteLength(text.text.content) <= 2048, 'expected: Buffer.byteLength(text.text.content) <= 2048');
    assert.match(md.markdown.content, /… \d+ more \(60 alerts in total\)/);
    assert.match(text.text.content, /… \d+ more \(60 alerts in total\)/);
    assert.deepEqual(text.text.mentioned_mobile_list, ['13900000000']);
    assert.ok((await logRows(am, 2)).every((l) => /alerts truncated/.test(l.detail)), 'expected: am.notifyStore.list({ limit: 5 }).every((l) => /alerts truncated/.test');
  });
});

describe('webhook receiver', () => {
  it('posts the versioned schema signed with X-Opsfleet-Signature, firing then resolved', async () => {
    const hook = await fake(new FakeWebhook('hook-secret'));
    const { am } = await manager([...timings, 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}/alerts", hmac_secret: hook-secret }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
    const labels = { alertname: 'CertExpiring', severity: 'warning' };
    am.onEvents([alertEvent('web-01', labels)]);
    await waitFor(() => hook.accepted().length === 1, { what: 'firing webhook' });
    am.onEvents([alertEvent('web-01', labels, 'resolved')]);
    await waitFor(() => hook.accepted().length === 2, { what: 'resolved webhook', timeout: 5000 });
    assert.deepEqual(hook.requests.map((r) => r.problems), [[], []]);
    type Body = { version: string; status: string; groupKey: string; merged: number; groups: Array<{ alerts: Array<{ status: string; labels: Record<string, string>; startsAt: string; endsAt: string | null; fingerprint: string }> }> };
    const [fire, res] = hook.bodies<Body>();
    assert.equal(fire!.version, 'opsfleet.alerts/v1');
    assert.equal(fire!.status, 'firing');
    assert.equal(fire!.merged, 1);
    assert.deepEqual(fire!.groups[0]!.alerts[0]!.labels, { ...labels, host: 'web-01' });
    assert.equal(fire!.groups[0]!.alerts[0]!.endsAt, null);
    assert.equal(res!.status, 'resolved');
    assert.equal(res!.groupKey, fire!.groupKey);
    assert.equal(res!.groups[0]!.alerts[0]!.status, 'resolved');
    assert.ok(res!.groups[0]!.alerts[0]!.endsAt, 'expected: res!.groups[0]!.alerts[0]!.endsAt');
    assert.equal(res!.groups[0]!.alerts[0]!.fingerprint, fire!.groups[0]!.alerts[0]!.fingerprint);
  });
});

describe('a hanging or rate-limited channel', () => {
  it('a webhook that hangs times out, is retried and delivered', async () => {
    const hook = await fake(new FakeWebhook());
    hook.script = ['hang'];
    const { am } = await manager([...timings, 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}", timeout: 300ms }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
    am.onEvents([alertEvent('web-01', { alertname: 'Slow' })]);
    await waitFor(() => hook.accepted().length === 1, { what: 'delivery after a timeout' });
    const log = await logRows(am, 2);
    assert.deepEqual(log.map((l) => [l.outcome, l.code]), [['retry', 'OPS_ERR_NOTIFY_NETWORK'], ['ok', '']]);
    assert.match(log[0]!.detail, /timed out after 300ms/);
  });

  it('WeCom errcode 45009 pauses the robot for ban_pause', async () => {
    const wecom = await fake(new FakeWecom('k'));
    wecom.script = [{ status: 200, body: { errcode: 45009, errmsg: 'api freq out of limit' } }];
    const { am } = await manager([...timings, 'receivers:', `  - { name: wc, type: wecom, webhook: "${wecom.webhook}", ban_pause: 500ms }`, 'routes:', '  - { receivers: [wc] }'].join('\n'));
    am.onEvents([alertEvent('web-01', { alertname: 'Busy' })]);
    await waitFor(() => wecom.accepted().length === 1, { what: 'delivery after the pause' });
    assert.equal(wecom.requests.length, 2);
    assert.ok(wecom.requests[1]!.at - wecom.requests[0]!.at >= 450, 'waited for the pause');
  });
});

describe('email receiver', () => {
  it('delivers plain text and HTML to a real SMTP server with AUTH; notify test prints the answer', async () => {
    const smtp = await fake(new FakeSmtp());
    const { am } = await manager(
      [...timings, 'receivers:', `  - { name: mail, type: email, smtp: { host: 127.0.0.1, port: ${smtp.port}, secure: false, user: alerts, pass: secret-pass }, from: alerts@example.com, to: [a@example.com, b@example.com] }`, 'routes:', '  - { receivers: [mail] }'].join('\n'),
    );
    am.onEvents([alertEvent('web-03', { alertname: 'OOMKilled', severity: 'critical' })]);
    await waitFor(() => smtp.mails.length === 1, { what: 'mail' });
    const m = smtp.mails[0]!;
    assert.deepEqual(m.to, ['a@example.com', 'b@example.com']);
    assert.match(m.raw, /Content-Type: text\/plain/);
    assert.match(m.raw, /Content-Type: text\/html/);
    assert.match(m.raw, /OOMKilled/);
    const t = await am.testReceiver('mail');
    assert.equal(t.ok, true);
    assert.match(t.detail, /^250 /);
    assert.equal(smtp.mails.length, 2);
  });

  it('a 4xx answer is retried, bad credentials are not', async () => {
    const smtp = await fake(new FakeSmtp());
    smtp.rejectNext = [451];
    const { am } = await manager(
      [
        ...timings,
        'receivers:',
        `  - { name: mail, type: email, smtp: { host: 127.0.0.1, port: ${smtp.port}, secure: false, user: alerts, pass: secret-pass }, from: alerts@example.com, to: [a@example.com] }`,
        `  - { name: badmail, type: email, smtp: { host: 127.0.0.1, port: ${smtp.port}, secure: false, user: alerts, pass: wrong }, from: alerts@example.com, to: [a@example.com] }`,
        'routes:',
        '  - { receivers: [mail] }',
      ].join('\n'),
    );
    am.onEvents([alertEvent('web-03', { alertname: 'Flaky' })]);
    await waitFor(() => smtp.mails.length === 1, { what: 'mail after 451' });
    assert.deepEqual((await logRows(am, 2, 'mail')).map((l) => [l.outcome, l.code]), [['retry', 'OPS_ERR_NOTIFY_SMTP_TRANSIENT'], ['ok', '']]);
    const bad = await am.testReceiver('badmail');
    assert.equal(bad.ok, false);
    assert.equal(bad.code, 'OPS_ERR_NOTIFY_SMTP');
  });
});
