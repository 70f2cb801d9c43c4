import { strict as assert } from 'node:assert';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { api, authHeaders, createToken, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { rawRequest } from '../helpers/http.js';
import { NatsServer } from '../helpers/nats-server.js';
import { REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { buildDashboard, startBrowser } from './browser.js';

/** OPSFLEET_SCREENSHOTS=1 writes each page's screenshot to docs/screenshots/ (committed, shown in the README). */
const SHOTS = process.env.OPSFLEET_SCREENSHOTS === '1' ? join(REPO_ROOT, 'docs', 'screenshots') : undefined;

const PLAYBOOKS = `
playbooks:
  hello:
    description: says which host it runs on
    timeout: 30s
    steps:
      - { name: greet, run: "echo hello-from-$OPSFLEET_TEST_HOST; sleep 0.2; echo done-$OPSFLEET_TEST_HOST" }
  inspect:
    steps:
      - builtin: load
`;

describe('web dashboard in headless chromium (real controller, two real agents)', () => {
  const dir = tempDir('opsfleet-dashboard-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  const agents: AgentProc[] = [];
  let stopBrowser: (() => Promise<void>) | undefined;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  /** The alert route's webhook: answers 200 so the group is notified and the page shows when. */
  let sink: Server | undefined;

  const shot = async (p: Page, name: string) => {
    if (!SHOTS) return;
    mkdirSync(SHOTS, { recursive: true });
    await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };

  before(async () => {
    buildDashboard();
    nats = await NatsServer.start();
    sink = createServer((req, res) => req.resume().on('end', () => res.end('{}')));
    await new Promise<void>((resolve) => sink!.listen(0, '127.0.0.1', resolve));
    const alerting = [
      'alerting:',
      '  group_wait: 1s',
      '  receivers:',
      `    - { name: disk-team, type: webhook, url: "http://127.0.0.1:${(sink.address() as AddressInfo).port}/hook" }`,
      '  routes:',
      "    - { matchers: ['alertname=~\"Disk.*\"'], receivers: [disk-team], group_by: [alertname, severity] }",
    ].join('\n');
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, extraYaml: `${PLAYBOOKS}\n${alerting}` });
    for (const [id, role] of [
      ['web-1', 'web'],
      ['db-1', 'db'],
    ] as const) {
      agents.push(
        await startAgent({
          natsUrl: nats.url,
          dir: dir.path,
          id,
          tags: { role, env: 'test' },
          rpc: false,
          extraYaml: ['rpc: { listen: "127.0.0.1:0", insecure: true, allow_shell: true }', 'metrics: { interval: 1s }'].join('\n'),
          env: { OPSFLEET_TEST_HOST: id },
          // A start is seconds of tsx compiling; on a machine shared with other builds it took > 20 s.
          startTimeoutMs: 90_000,
        }),
      );
    }
    await waitFor(async () => (await api<Array<{ status: string }>>(ctl.url, '/api/v1/hosts')).filter((h) => h.status === 'online').length === 2, { timeout: 30_000, what: 'both agents online' });
    const b = await startBrowser();
    stopBrowser = b.stop;
    browser = b.browser;
    admin = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'en-US' });
    page = await admin.newPage();
    page.on('dialog', (d) => void d.accept(d.type() === 'prompt' ? '/tmp' : undefined));
  });

  after(async () => {
    await stopBrowser?.();
    await Promise.all(agents.map((a) => a.child.stop()));
    await ctl?.child.stop();
    await nats?.stop();
    await new Promise<void>((resolve) => (sink ? sink.close(() => resolve()) : resolve()));
    dir.cleanup();
  });

  it('logs in with the one-time URL from `opsctl dashboard`; the URL works once', async () => {
    const r = await runCommand('opsctl', ['dashboard', '--controller', ctl.url, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { url } = JSON.parse(r.stdout) as { url: string };
    assert.match(url, /\/login\?ticket=/);
    const res = await page.goto(url);
    assert.equal(res?.status(), 200);
    await page.getByTestId('who').waitFor();
    assert.match(await page.getByTestId('who').innerText(), /admin \(admin\)/);
    assert.ok(!page.url().includes('ticket'), 'the ticket leaves the address bar');
    const cookie = (await admin.cookies()).find((c) => c.name === 'opsf_session');
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
    const again = await rawRequest(ctl.url, { path: new URL(url).pathname + new URL(url).search });
    assert.equal(again.status, 303);
    assert.match(String(again.headers.location), /error=ticket/);
    assert.equal(again.headers['set-cookie'], undefined);
  });

  it('the fleet shows both hosts with counts, and a target expression narrows them on the server', async () => {
    await page.goto(`${ctl.url}/#/`);
    const counts = page.getByTestId('fleet-counts');
    await page.locator('[data-testid=fleet-counts][data-matched="2"]').waitFor();
    assert.equal(await page.locator('.vlist [data-host]').count(), 2);
    assert.match(await counts.innerText(), /Online: 2/);
    await shot(page, 'fleet');
    await page.getByLabel('Target expression').fill('role=web');
    await page.getByLabel('Target expression').press('Enter');
    await page.locator('[data-testid=fleet-counts][data-matched="1"]').waitFor();
    assert.deepEqual(await page.locator('.vlist [data-host]').evaluateAll((els) => els.map((e) => e.getAttribute('data-host'))), ['web-1']);
    await page.getByLabel('Target expression').fill('role=(');
    await page.getByLabel('Target expression').press('Enter');
    await page.getByRole('alert').filter({ hasText: 'OPS_ERR_TARGET_SYNTAX' }).waitFor();
  });

  it('a host page draws non-empty CPU, memory, disk and network charts', async () => {
    await waitFor(async () => (await api<unknown[]>(ctl.url, '/api/v1/hosts/web-1/metrics/history?since=0')).length > 0, { timeout: 30_000, what: 'metric history for web-1' });
    await page.goto(`${ctl.url}/#/hosts/web-1`);
    // 24 h: the 1-minute tier the controller fills from each sample as it arrives.
    await page.getByLabel('Range').selectOption('24h');
    for (const id of ['chart-cpu', 'chart-mem', 'chart-disk', 'chart-net']) {
      const canvas = page.getByTestId(id).locator('canvas');
      await canvas.waitFor({ timeout: 20_000 });
      // Canvas pixels that are not transparent: uPlot drew axes and lines.
      const painted = await canvas.evaluate((el) => {
        const c = el as unknown as { width: number; height: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
        return n;
      });
      assert.ok(painted > 100, `${id}: ${painted} painted pixels`);
      assert.ok(Number(await page.getByTestId(id).getAttribute('data-points')) > 0);
    }
    // Real values, not a flat line of zeros: a running host uses some memory and some disk.
    for (const id of ['chart-mem', 'chart-disk']) assert.ok(Number(await page.getByTestId(id).getAttribute('data-max')) > 0, `${id} is all zeros`);
    await page.getByRole('heading', { name: 'Inventory' }).waitFor();
    await shot(page, 'host');
  });

  it('creating a silence previews what it matches and silences the firing alert', async () => {
    const push = await fetch(`${ctl.url}/api/v1/alerts`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(ctl.url) }, body: JSON.stringify({ labels: { alertname: 'DiskAlmostFull', host: 'web-1', severity: 'warning' }, annotations: { summary: '/var at 93%' } }) });
    assert.equal(push.status, 200, await push.text());
    await page.goto(`${ctl.url}/#/alerts`);
    // Grouped as routed: under the route's receiver and its group_by values.
    const group = page.locator('.group[data-route="route0"]', { hasText: 'DiskAlmostFull' });
    await group.waitFor();
    assert.match(await group.locator('h3').innerText(), /To disk-team · alertname=DiskAlmostFull severity=warning \(1\)/);
    const item = group.locator('li.alert', { hasText: 'DiskAlmostFull' });
    await item.waitFor();
    assert.equal(await item.getAttribute('data-silenced'), 'false');
    await page.getByLabel(/Matchers/).fill('alertname="DiskAlmostFull"\nhost=~"web-.*"');
    await page.locator('[data-testid=silence-preview][data-count="1"]').waitFor();
    await page.getByLabel('Comment').fill('disk swap tonight');
    await shot(page, 'alerts');
    await page.getByRole('button', { name: 'Create silence' }).click();
    await page.locator('li.alert[data-silenced="true"]', { hasText: 'DiskAlmostFull' }).waitFor({ timeout: 15_000 });
    const silences = await api<Array<{ comment: string; createdBy: string }>>(ctl.url, '/api/v1/silences');
    assert.ok(silences.some((s) => s.comment === 'disk swap tonight' && s.createdBy === 'admin'));
  });

  it('a run previews its hosts and streams output from both of them live', async () => {
    await page.goto(`${ctl.url}/#/runs`);
    await page.getByLabel('Playbook').selectOption('hello');
    await page.getByLabel('Target').fill('env=test');
    await page.getByRole('button', { name: 'Preview hosts' }).click();
    await page.locator('[data-testid=run-matched][data-count="2"]').waitFor();
    await page.getByTestId('run-start').click();
    for (const h of ['web-1', 'db-1']) await page.locator(`[data-run-host="${h}"] pre`, { hasText: `hello-from-${h}` }).waitFor({ timeout: 30_000 });
    await page.getByTestId('run-recap').waitFor({ timeout: 30_000 });
    for (const h of ['web-1', 'db-1']) assert.match(await page.locator(`[data-run-host="${h}"] pre`).innerText(), new RegExp(`done-${h}`));
    await shot(page, 'runs');
  });

  it('tasks, policies and audit pages render; the audit chain is intact', async () => {
    await page.goto(`${ctl.url}/#/tasks`);
    await page.getByRole('heading', { name: 'Scheduled tasks' }).waitFor();
    await shot(page, 'tasks');
    await page.goto(`${ctl.url}/#/audit`);
    await page.locator('[data-testid=audit-chain][data-ok="true"]').waitFor();
    await page.locator('tr[data-audit="silence.add"]').first().waitFor();
    await page.getByLabel(/Filter/).fill('dashboard.login');
    await waitFor(async () => {
      const actions = await page.locator('tr[data-audit]').evaluateAll((els) => els.map((e) => e.getAttribute('data-audit')));
      return actions.length > 0 && actions.every((a) => a === 'dashboard.login');
    }, { what: 'audit rows filtered to dashboard.login' });
    await shot(page, 'audit');
  });

  it('the language switch changes the labels to Chinese and is remembered', async () => {
    await page.goto(`${ctl.url}/#/`);
    await page.getByRole('link', { name: 'Fleet' }).waitFor();
    await page.getByLabel('Language').selectOption('zh');
    await page.getByRole('link', { name: '主机' }).waitFor();
    assert.equal(await page.locator('[data-nav=alerts]').innerText(), '告警');
    await page.reload();
    await page.getByRole('link', { name: '主机' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await shot(page, 'fleet-zh');
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('link', { name: 'Fleet' }).waitFor();
  });

  it('a viewer sees no mutation buttons, and what it tries anyway is refused with the reason; a session without the CSRF header cannot mutate', async () => {
    const secret = await createToken(ctl.url, { name: 'vera', role: 'viewer' });
    const ctx = await browser.newContext({ locale: 'en-US' });
    try {
      const p = await ctx.newPage();
      await p.goto(`${ctl.url}/`);
      await p.getByLabel('API token').fill(secret);
      await p.getByLabel('API token').press('Enter');
      await p.getByTestId('who').waitFor();
      assert.match(await p.getByTestId('who').innerText(), /vera \(viewer\)/);
      await p.goto(`${ctl.url}/#/alerts`);
      await p.locator('li.alert', { hasText: 'DiskAlmostFull' }).waitFor();
      assert.equal(await p.getByRole('button', { name: 'Create silence' }).count(), 0);
      assert.equal(await p.getByRole('button', { name: 'Expire' }).count(), 0);
      await p.goto(`${ctl.url}/#/runs`);
      await p.getByRole('heading', { name: 'History' }).waitFor();
      assert.equal(await p.getByTestId('run-start').count(), 0);
      // With the session's CSRF header (as the page sends it): the role decides, and says why.
      const forbidden = await p.evaluate(async () => {
        const s = (await (await fetch('/api/v1/dashboard/session')).json()) as { csrf: string };
        const r = await fetch('/api/v1/silences', { method: 'POST', headers: { 'content-type': 'application/json', 'x-opsfleet-csrf': s.csrf }, body: JSON.stringify({ matchers: ['alertname=X'], duration: '1h' }) });
        return { status: r.status, body: (await r.json()) as { error: { code: string; message: string } } };
      });
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.error.code, 'OPS_ERR_AUTH_FORBIDDEN');
      assert.match(forbidden.body.error.message, /vera.*viewer.*needs operator/);
      // The admin's cookie without the header: refused before the role is looked at.
      const csrf = await page.evaluate(async () => {
        const r = await fetch('/api/v1/silences', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ matchers: ['alertname=X'], duration: '1h' }) });
        return { status: r.status, code: ((await r.json()) as { error: { code: string } }).error.code };
      });
      assert.deepEqual(csrf, { status: 403, code: 'OPS_ERR_AUTH_CSRF' });
      // Logging out ends the session on the server: the old cookie no longer reads anything.
      await p.getByRole('button', { name: 'Log out' }).click();
      await p.getByLabel('API token').waitFor();
      const after = await p.evaluate(async () => (await fetch('/api/v1/hosts')).status);
      assert.equal(after, 401);
    } finally {
      await ctx.close();
    }
  });
});
