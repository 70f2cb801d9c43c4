import { strict as assert } from 'node:assert';
import { after, afterEach, describe, it } from 'node:test';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeFeishu } from './fakes.js';
import { logRows, startManager } from './harness.js';

// Issue 17: the Feishu/Lark custom-bot receiver against a stand-in that checks what Feishu documents.
const dir = tempDir('opsfleet-alert-feishu-');
after(() => dir.cleanup());
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
let n = 0;
async function setup(fsecret: string, extra = '', receiverExtra = '') {
  const feishu = new FakeFeishu('hooktoken', 'the-secret');
  await feishu.start();
  cleanups.push(() => feishu.stop());
  const m = await startManager(
    ['group_wait: 0s', 'group_interval: 200ms', 'retry: { attempts: 2, initial: 10ms, max: 20ms }', extra, 'receivers:', `  - { name: fs, type: feishu, webhook: "${feishu.webhook}", secret: "${fsecret}"${receiverExtra} }`, 'routes:', '  - { receivers: [fs] }'].join('\n'),
    `${dir.path}/m-${++n}`,
  );
  cleanups.push(m.close);
  return { feishu, ...m };
}

describe('Feishu/Lark receiver', () => {
  it('sends a signed interactive card with the alert in lark_md', { timeout: 60_000 }, async () => {
    const { am, feishu } = await setup('the-secret');
    am.push([{ labels: { alertname: 'DiskFull', host: 'web-01', severity: 'critical' }, annotations: { summary: '磁盘 /data 使用率 95%' } }]);
    await waitFor(() => feishu.accepted().length === 1, { what: 'Feishu card' });
    assert.deepEqual(feishu.requests[0]!.problems, []);
    const body = feishu.requests[0]!.body as { card: { header: { title: { content: string }; template: string } } };
    assert.match(body.card.header.title.content, /FIRING:1\] DiskFull web-01/);
    assert.equal(body.card.header.template, 'red');
    const text = feishu.contents()[0]!;
    for (const s of ['DiskFull', 'web-01', '磁盘 /data 使用率 95%']) assert.ok(text.includes(s), s);
    assert.ok(!/^#/m.test(text), 'lark_md has no headings');
    assert.equal((await logRows(am, 1))[0]!.detail, 'code 0: success');
  });

  it('a wrong secret is code 19021: rejected, not retried', { timeout: 60_000 }, async () => {
    const { am, feishu } = await setup('wrong-secret');
    const r = await am.testReceiver('fs');
    assert.equal(r.ok, false);
    assert.equal(r.code, 'OPS_ERR_NOTIFY_REJECTED');
    assert.match(r.detail, /code 19021/);
    assert.equal(feishu.requests.length, 1);
  });

  it('a 3,000-alert digest stays within Feishu\'s 20 KB body and names what it left out', { timeout: 60_000 }, async () => {
    // Two messages an hour: the first alert, then everything else as one digest.
    const { am, feishu } = await setup('the-secret', 'group_by: [alertname, host]', ', rate_limit: { count: 2, per: 1h }');
    am.push([{ labels: { alertname: 'First', host: 'h' } }]);
    await waitFor(() => feishu.accepted().length === 1, { what: 'first message' });
    am.push(Array.from({ length: 3000 }, (_, i) => ({ labels: { alertname: `Burst${i}`, host: `h${i}` }, annotations: { description: '很长的描述 '.repeat(20) } })));
    await waitFor(() => feishu.accepted().length === 2, { timeout: 30_000, what: 'digest' });
    const req = feishu.requests[1]!;
    assert.deepEqual(req.problems, []);
    assert.ok(Buffer.byteLength(req.raw) <= 20_000, `${Buffer.byteLength(req.raw)} bytes`);
    assert.match(feishu.contents()[1]!, /… \d+ more \(300[01] alerts in total\): Burst\d+@h\d+/);
  });

  it('the frequency limit (code 11232) pauses the bot; the notification is kept and delivered after the pause', { timeout: 60_000 }, async () => {
    const { am, feishu } = await setup('the-secret', '', ', ban_pause: 800ms');
    feishu.script = [{ status: 200, body: { code: 11232, msg: 'frequency limited', data: {} } }];
    am.push([{ labels: { alertname: 'Limited', host: 'h' } }]);
    await waitFor(() => feishu.accepted().length === 1, { what: 'delivery after the pause' });
    const at = feishu.requests.map((r) => r.at);
    assert.ok(at[1]! - at[0]! >= 750, `resent after ${at[1]! - at[0]!}ms`);
    const rows = await logRows(am, 2);
    assert.deepEqual(rows.map((r) => [r.outcome, r.code]), [['paused', 'OPS_ERR_NOTIFY_RATE_LIMITED'], ['ok', '']]);
    assert.equal(am.workers.get('fs')!.stats.paused, 1);
  });
});
