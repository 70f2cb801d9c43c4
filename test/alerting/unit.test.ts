import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { controllerConfigSchema } from '../../shared/config/controller.js';
import { parseConfigText } from '../../shared/config/load.js';
import { ConfigError } from '../../shared/errors.js';
import { fingerprint, fingerprintInput, fnv1a64Reference } from '../../controller/alerts/fingerprint.js';
import { compileMatcher, parseMatcher } from '../../shared/alerts/matchers.js';
import { dingtalkSign, dingtalkUrl } from '../../controller/notify/dingtalk.js';
import { render } from '../../controller/notify/template.js';
import type { AlertView, OutgoingMessage } from '../../controller/notify/types.js';

describe('alert fingerprint', () => {
  it('is FNV-1a 64 with the published test vectors', () => {
    assert.equal(fnv1a64Reference(Buffer.from('')), 'cbf29ce484222325');
    assert.equal(fnv1a64Reference(Buffer.from('a')), 'af63dc4c8601ec8c');
    assert.equal(fnv1a64Reference(Buffer.from('foobar')), '85944171f73967e8');
    assert.equal(fingerprint({}), 'cbf29ce484222325');
  });

  it('hashes sorted name/value pairs with 0xff separators, same as the BigInt reference', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 40 }), { maxKeys: 8 }), (labels) => {
        assert.equal(fingerprint(labels), fnv1a64Reference(fingerprintInput(labels)));
      }),
      { numRuns: 500 },
    );
  });

  it('does not depend on label order and differs when a value differs', () => {
    assert.equal(fingerprint({ alertname: 'DiskFull', host: 'web-01' }), fingerprint({ host: 'web-01', alertname: 'DiskFull' }));
    assert.notEqual(fingerprint({ alertname: 'DiskFull', host: 'web-01' }), fingerprint({ alertname: 'DiskFull', host: 'web-02' }));
    // Separators keep "a"+"bc" and "ab"+"c" apart.
    assert.notEqual(fingerprint({ a: 'bc' }), fingerprint({ ab: 'c' }));
  });
});

describe('matchers', () => {
  it('parses =, !=, =~, !~ and anchors regexes', () => {
    assert.deepEqual(parseMatcher('host=web-01'), { name: 'host', op: '=', value: 'web-01' });
    assert.deepEqual(parseMatcher('alertname=~"Disk.*"'), { name: 'alertname', op: '=~', value: 'Disk.*' });
    const m = compileMatcher(parseMatcher('host=~web-.*'));
    assert.equal(m.test({ host: 'web-01' }), true);
    assert.equal(m.test({ host: 'xweb-01' }), false);
    assert.equal(compileMatcher(parseMatcher('env!=dev')).test({}), true);
    assert.equal(compileMatcher(parseMatcher('env!~dev|test')).test({ env: 'test' }), false);
  });

  it('rejects a bad regex with OPS_ERR_REGEX_SYNTAX and a bad label name with OPS_ERR_ALERT_MATCHER', () => {
    assert.throws(() => parseMatcher('host=~(web'), { code: 'OPS_ERR_REGEX_SYNTAX' });
    assert.throws(() => parseMatcher('1host=x'), { code: 'OPS_ERR_ALERT_MATCHER' });
  });
});

describe('DingTalk signing', () => {
  it('appends timestamp and urlencode(base64(HMAC-SHA256(secret, ts+"\\n"+secret)))', () => {
    const secret = 'SEC1234567890abcdef+/=';
    const ts = 1700000000000;
    const expected = encodeURIComponent(createHmac('sha256', secret).update(`${ts}\n${secret}`).digest('base64'));
    assert.equal(dingtalkSign(secret, ts), expected);
    assert.equal(dingtalkUrl('https://oapi.dingtalk.com/robot/send?access_token=abc', secret, ts), `https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=${ts}&sign=${expected}`);
    assert.equal(dingtalkUrl('https://x/robot/send?access_token=abc', undefined, ts), 'https://x/robot/send?access_token=abc');
  });
});

describe('templates', () => {
  const alert = (i: number): AlertView => ({
    fingerprint: String(i).padStart(16, '0'),
    status: 'firing',
    labels: { alertname: 'DiskFull', host: `web-${i}`, severity: 'critical', mount: '/data' },
    annotations: { summary: `磁盘 /data 使用率 95% on web-${i}`, description: 'x'.repeat(200) },
    startsAt: new Date(Date.now() - 300_000).toISOString(),
    endsAt: null,
    count: i,
  });
  const msg = (n: number): OutgoingMessage => ({ kind: 'notify', merged: 1, groups: [{ groupKey: 'g', groupLabels: { alertname: 'DiskFull' }, status: 'firing', firing: Array.from({ length: n }, (_, i) => alert(i)), resolved: [] }] });

  it('shows severity, host, summary, since and count', () => {
    const r = render(msg(1), 'markdown', 20_000);
    assert.match(r.title, /FIRING:1\] DiskFull/);
    for (const s of ['critical', 'web-0', '磁盘 /data 使用率 95%', '已持续 for 5m', '次数 count**: 0', 'mount=/data']) assert.ok(r.text.includes(s), `missing ${s}:\n${r.text}`);
    assert.equal(r.truncated, 0);
  });

  it('cuts to the byte limit with a "… N more" line, never splitting a character', () => {
    for (const limit of [1000, 2048, 4096]) {
      const r = render(msg(100), 'markdown', limit);
      assert.ok(Buffer.byteLength(r.text) <= limit, `${Buffer.byteLength(r.text)} > ${limit}`);
      assert.ok(r.truncated > 0 && r.truncated < 100, 'expected: r.truncated > 0 && r.truncated < 100');
      assert.ok(r.text.includes(`… ${r.truncated} more (100 alerts in total)`), r.text.slice(-200));
      assert.ok(!r.text.includes('\uFFFD'), 'expected: !r.text.includes(uFFFD)');
    }
  });

  it('fills overrides from config', () => {
    const r = render(msg(1), 'text', 4096, { template: { title: '[{{status}}] {{alertname}} x{{count}}', alert: '{{labels.host}}: {{annotations.summary}} ({{severity}})' } });
    assert.equal(r.title, '[firing] DiskFull x1');
    assert.ok(r.text.includes('web-0: 磁盘 /data 使用率 95% on web-0 (critical)'), 'expected: r.text.includes(web-0: 磁盘 /data 使用率 95% on web-0 (critical))');
  });
});

describe('alerting config errors', () => {
  const base = 'nats: { servers: ["nats://127.0.0.1:4222"] }\n';
  const problems = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      parseConfigText(base + yaml, 'controller.yaml', controllerConfigSchema, env);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.code, 'OPS_ERR_CONFIG_INVALID');
      return err.message.split('\n').slice(1);
    }
    assert.fail('config was accepted');
  };

  it('names FILE:LINE:COL for an invalid matcher regex', () => {
    const p = problems(['alerting:', '  receivers:', '    - { name: hook, type: webhook, url: "http://127.0.0.1:1/x" }', '  routes:', '    - match_re: { host: "db-(.*" }', '      receivers: [hook]'].join('\n'));
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /^controller\.yaml:6:25 alerting\.routes\[0\]\.match_re\.host: invalid regex "db-\(\.\*"/);
  });

  it('names FILE:LINE:COL for an unknown receiver in a route and as fallback', () => {
    const p = problems(['alerting:', '  receivers:', '    - { name: hook, type: webhook, url: "http://127.0.0.1:1/x" }', '  routes:', '    - receivers: [hook, oncall-ding]', '  fallback_receiver: mail'].join('\n'));
    assert.deepEqual(p, [
      'controller.yaml:6:25 alerting.routes[0].receivers[1]: unknown receiver "oncall-ding" (defined: hook)',
      'controller.yaml:7:22 alerting.fallback_receiver: unknown receiver "mail" (defined: hook)',
    ]);
  });

  it('names FILE:LINE:COL for a missing secret env var', () => {
    const p = problems(['alerting:', '  receivers:', '    - name: ding', '      type: dingtalk', '      webhook: "https://oapi.dingtalk.com/robot/send?access_token=x"', '      secret: "${env:DING_SECRET}"'].join('\n'));
    assert.ok(p.some((l) => l.startsWith('controller.yaml:7:15 alerting.receivers[0].secret: environment variable DING_SECRET is not set')), p.join('\n'));
  });

  it('rejects unknown keys, bad durations and receiver types', () => {
    const p = problems(['alerting:', '  group_wait: soon', '  receivers:', '    - { name: x, type: pager, url: "http://a" }', '  routes:', '    - { receivers: [x], contine: true }'].join('\n'));
    assert.ok(p.some((l) => l.startsWith('controller.yaml:3:15 alerting.group_wait: expected a duration')), p.join('\n'));
    assert.ok(p.some((l) => l.includes('alerting.receivers[0].type')), p.join('\n'));
    assert.ok(p.some((l) => l.startsWith('controller.yaml:7:25 alerting.routes[0].contine: unknown key "contine"')), p.join('\n'));
  });

  it('accepts the issue example with env secrets and fills defaults', () => {
    const cfg = parseConfigText(
      base +
        [
          'alerting:',
          '  group_by: [alertname, host]',
          '  group_wait: 30s',
          '  receivers:',
          '    - { name: oncall-ding, type: dingtalk, webhook: "https://oapi.dingtalk.com/robot/send?access_token=t", secret: "SECx", at_mobiles: [], at_all: false }',
          '    - { name: team-wecom, type: wecom, webhook: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", mentioned_mobile_list: [] }',
          '    - { name: mail, type: email, smtp: { host: smtp.example.com, port: 465, secure: true, user: u, pass: "${env:SMTP_PASS}" }, from: a@example.com, to: [b@example.com] }',
          '    - { name: hook, type: webhook, url: "https://hooks.example.com/x", hmac_secret: "${env:HOOK_SECRET}" }',
          '  routes:',
          '    - { match: { severity: critical }, receivers: [oncall-ding, mail], continue: true }',
          '    - { match_re: { host: "db-.*" }, receivers: [team-wecom] }',
          '    - { receivers: [hook] }',
          '  inhibit:',
          '    - { source: { alertname: HostOffline }, target: {}, equal: [host] }',
          '  fallback_receiver: mail',
        ].join('\n'),
      'controller.yaml',
      controllerConfigSchema,
      { SMTP_PASS: 'p', HOOK_SECRET: 's' },
    );
    assert.equal(cfg.alerting.group_wait, 30_000);
    assert.equal(cfg.alerting.group_interval, 300_000);
    assert.equal(cfg.alerting.resolve_timeout, 300_000);
    const ding = cfg.alerting.receivers[0]!;
    assert.equal(ding.type, 'dingtalk');
    assert.deepEqual(ding.rate_limit, { count: 18, per: 60_000 });
  });
});

describe('DingTalk body size', () => {
  it('stays within max_bytes as JSON even when escaping newlines and quotes adds bytes', async () => {
    const { DingtalkReceiver } = await import('../../controller/notify/dingtalk.js');
    const r = new DingtalkReceiver({ name: 'd', type: 'dingtalk', webhook: 'http://x', at_mobiles: ['13800000000'], at_all: false, rate_limit: { count: 18, per: 60_000 }, max_bytes: 20_000, ban_pause: 600_000, timeout: 1000, send_resolved: true, language: 'both' as const });
    const alerts: AlertView[] = Array.from({ length: 400 }, (_, i) => ({
      fingerprint: String(i).padStart(16, '0'),
      status: 'firing',
      labels: { alertname: 'Quote"Storm', host: `h-${i}`, severity: 'critical' },
      annotations: { summary: '"a"\n"b"\n"c"\n"d"', description: '\\\\ "x" '.repeat(10) },
      startsAt: new Date().toISOString(),
      endsAt: null,
      count: 1,
    }));
    const { body, truncated } = r.body({ kind: 'notify', merged: 1, groups: [{ groupKey: 'g', groupLabels: {}, status: 'firing', firing: alerts, resolved: [] }] });
    const size = Buffer.byteLength(JSON.stringify(body));
    assert.ok(size <= 20_000 && size > 15_000, `body of ${size} bytes`);
    assert.ok(truncated > 0, 'some alerts truncated');
    assert.ok((body as { markdown: { text: string } }).markdown.text.includes('@13800000000'), 'mention kept at the end');
  });
});
