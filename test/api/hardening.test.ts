import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startController, type ControllerProc } from '../helpers/daemons.js';
import { rawRequest } from '../helpers/http.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';

/** Issue 12 items 6 and 7, issue 20 item 5: what a hostile or clumsy client sends. */
describe('API hardening: malformed URLs, bodies, limits, expressions', () => {
  const dir = tempDir('opsfleet-api-hardening-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  const POLICIES = ['tasks_dir: TASKS'];

  before(async () => {
    nats = await NatsServer.start();
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const tasks = `${dir.path}/tasks`;
    mkdirSync(tasks);
    writeFileSync(`${tasks}/p.yaml`, 'policies:\n  - { name: fix-it, when: { alertname: Broken }, run: { playbook: inspect, on: alert_host } }\n');
    ctl = await startController({
      natsUrl: nats.url,
      dir: dir.path,
      extraYaml: [POLICIES[0]!.replace('TASKS', tasks), 'playbooks:', '  inspect: { steps: [ { builtin: load } ] }'].join('\n'),
      httpExtra: 'auth: { max_failures: 3, failure_window: 1m }',
    });
  });
  after(async () => {
    await ctl?.child.stop();
    await nats?.stop();
    dir.cleanup();
  });

  const req = (o: Parameters<typeof rawRequest>[1]) => rawRequest(ctl.url, { token: ctl.token, ...o });

  it('a malformed percent-escape is a 400 at once on every route with a parameter, also 300 at a time', async () => {
    for (const path of ['/api/v1/hosts/%E0%A4%A', '/api/v1/hosts/%ZZ', '/api/v1/hosts/%ZZ/status', '/api/v1/silences/%E0%A4%A', '/api/v1/runs/%ff', '/api/v1/tasks/%C0/history', '/api/v1/hosts/%/metrics']) {
      const r = await req({ path, timeoutMs: 5000 });
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.equal(r.code, 'OPS_ERR_BAD_URL');
    }
    const del = await req({ method: 'DELETE', path: '/api/v1/tokens/%E0%A4%A', timeoutMs: 5000 });
    assert.equal(del.code, 'OPS_ERR_BAD_URL');
    const many = await Promise.all(Array.from({ length: 300 }, () => req({ path: '/api/v1/hosts/%E0%A4%A', timeoutMs: 20_000 })));
    assert.ok(many.every((r) => r.status === 400));
  });

  it('every POST body must be what the route takes: null, 42, "x" or [] to policies/pause are 400 and pause nothing', async () => {
    for (const body of ['null', '42', '"x"', '[]', '{"policy": 7}', '{"policy": "fix-it", "extra": 1}', '{not json']) {
      const r = await req({ method: 'POST', path: '/api/v1/policies/pause', body });
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      assert.match(r.code ?? '', /^OPS_ERR_(BAD_REQUEST|BAD_JSON)$/);
    }
    const state = (await req({ path: '/api/v1/policies' })).json as { paused: boolean; policies: Array<{ paused: boolean }> };
    assert.equal(state.paused, false);
    assert.ok(state.policies.every((p) => !p.paused));
    for (const [path, body] of [['/api/v1/tasks/reload', '[]'], ['/api/v1/silences', 'null'], ['/api/v1/alerts', '"x"'], ['/api/v1/tokens', '[1]'], ['/api/v1/hosts/h/backups/s/now', '42'], ['/api/v1/runs', 'true']] as const) {
      const r = await req({ method: 'POST', path, body });
      assert.equal(r.status, 400, `${path} ${body}: ${r.text}`);
    }
  });

  it('a body over the limit gets 413 OPS_ERR_BODY_TOO_LARGE that the client reads, with or without Content-Length', async () => {
    const big = JSON.stringify({ matchers: ['a=b'], duration: '1h', comment: 'x'.repeat(2 * 1024 * 1024) });
    const declared = await req({ method: 'POST', path: '/api/v1/silences', body: big });
    assert.equal(declared.status, 413);
    assert.equal(declared.code, 'OPS_ERR_BODY_TOO_LARGE');
    const chunked = await req({ method: 'POST', path: '/api/v1/silences', body: big, chunked: true });
    assert.equal(chunked.status, 413);
    assert.equal(chunked.code, 'OPS_ERR_BODY_TOO_LARGE');
    assert.equal((await req({ path: '/api/v1/silences' })).status, 200, 'the server still answers');
  });

  it('a realistic 10,000-alert POST (~1.1 MB) that the schema allows is accepted', async () => {
    const alerts = Array.from({ length: 10_000 }, (_, i) => ({
      labels: { alertname: 'DiskFull', host: `web-${String(i).padStart(5, '0')}`, severity: 'warning', mount: '/var' },
      annotations: { summary: `disk /var on web-${i} is 95% full` },
    }));
    const body = JSON.stringify(alerts);
    assert.ok(body.length > 1_000_000, `${body.length} bytes`);
    const r = await req({ method: 'POST', path: '/api/v1/alerts', body, timeoutMs: 60_000 });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal((r.json as { accepted: number }).accepted, 10_000);
    const tooMany = await req({ method: 'POST', path: '/api/v1/alerts', body: JSON.stringify([...alerts, alerts[0]]), timeoutMs: 60_000 });
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.code, 'OPS_ERR_ALERT_MALFORMED');
  });

  it('target expressions too deep or too long are OPS_ERR_TARGET_SYNTAX, not a crash', async () => {
    for (const target of ['('.repeat(5000), Array(20_000).fill('a').join(' or '), `${'not '.repeat(3000)}a`]) {
      const r = await req({ method: 'POST', path: '/api/v1/runs', body: JSON.stringify({ playbook: 'inspect', target, dry_run: true }) });
      assert.equal(r.status, 400, r.text.slice(0, 300));
      assert.equal(r.code, 'OPS_ERR_TARGET_SYNTAX');
    }
    const tok = await req({ method: 'POST', path: '/api/v1/tokens', body: JSON.stringify({ name: 'deep', role: 'viewer', target: '('.repeat(5000) }) });
    assert.equal(tok.code, 'OPS_ERR_TARGET_SYNTAX');
  });

  it('failed authentications from one address get 429 with Retry-After after the limit; other addresses and /healthz still work', async () => {
    const bad = `opsf_aaaaaaaaaaaa_${'x'.repeat(43)}`;
    const from = '127.0.0.3';
    for (let i = 0; i < 3; i++) assert.equal((await rawRequest(ctl.url, { path: '/api/v1/hosts', token: bad, localAddress: from })).status, 401);
    const limited = await rawRequest(ctl.url, { path: '/api/v1/hosts', token: bad, localAddress: from });
    assert.equal(limited.status, 429);
    assert.equal(limited.code, 'OPS_ERR_AUTH_RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal((await rawRequest(ctl.url, { path: '/api/v1/hosts', token: ctl.token, localAddress: from })).status, 429, 'the address is held off, token or not');
    assert.equal((await rawRequest(ctl.url, { path: '/healthz', localAddress: from })).status, 200);
    assert.equal((await rawRequest(ctl.url, { path: '/api/v1/hosts', token: ctl.token, localAddress: '127.0.0.4' })).status, 200);
  });

  it('no request above left an unhandled rejection (counted in /metrics and /healthz)', async () => {
    const metrics = (await req({ path: '/metrics' })).text;
    assert.match(metrics, /^opsfleet_unhandled_rejections_total 0$/m);
    assert.equal((await req({ path: '/healthz' })).json && ((await req({ path: '/healthz' })).json as { unhandledRejections: number }).unhandledRejections, 0);
    assert.ok(!ctl.child.logs().some((l) => l.msg === 'unhandled promise rejection' || l.msg === 'request failed'), ctl.child.tail());
  });
});
