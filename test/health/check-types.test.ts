import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { probe } from '../../agent/health/index.js';
import { checkSchema, type CheckConfig } from '../../shared/config/health.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** PIDs of `sleep SECS` processes (a unique duration marks a test's own). */
function listSleeps(secs: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8') === `sleep\0${secs}\0`) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Compiles a check the way the config loader does (defaults applied). */
function check(raw: Record<string, unknown>): CheckConfig {
  return checkSchema.parse({ name: 't', ...raw });
}
const run = (raw: Record<string, unknown>, ms = 2000) => probe(check(raw), AbortSignal.timeout(ms));

describe('check types', () => {
  let http: Server;
  let httpUrl = '';
  let banner: TcpServer;
  let bannerPort = 0;
  const tmp = tempDir('opsfleet-checks-');

  before(async () => {
    http = createHttpServer((req, res) => {
      if (req.url === '/healthz') return void res.end('all ok');
      if (req.url === '/slow') return void setTimeout(() => res.end('ok'), 300);
      if (req.url === '/hang') return; // never answers
      res.statusCode = 503;
      res.end('down');
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    httpUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    banner = createTcpServer((s) => s.end('SSH-2.0-test\r\n'));
    await new Promise<void>((r) => banner.listen(0, '127.0.0.1', r));
    bannerPort = (banner.address() as { port: number }).port;
  });
  after(() => {
    http.closeAllConnections();
    http.close();
    banner.close();
    tmp.cleanup();
  });

  it('http: status, body_contains, max_latency, refused and timeout', async () => {
    assert.equal((await run({ type: 'http', url: `${httpUrl}/healthz`, expect: { status: [200], body_contains: 'ok' } })).status, 'ok');
    const bad = await run({ type: 'http', url: `${httpUrl}/other` });
    assert.equal(bad.status, 'fail');
    assert.equal(bad.detail, 'HTTP 503');
    assert.match((await run({ type: 'http', url: `${httpUrl}/healthz`, expect: { body_contains: 'nope' } })).detail, /body lacks "nope"/);
    assert.match((await run({ type: 'http', url: `${httpUrl}/slow`, expect: { max_latency: '100ms' } })).detail, /slower than 100ms/);
    const port = await freePort();
    assert.match((await run({ type: 'http', url: `http://127.0.0.1:${port}/` })).detail, /ECONNREFUSED/);
    const hung = await run({ type: 'http', url: `${httpUrl}/hang` }, 200);
    assert.equal(hung.status, 'fail');
    assert.match(hung.detail, /timed out/);
  });

  it('https: verify, and a certificate expiring within warn_expiry_within is a warning', async () => {
    const key = join(tmp.path, 'tls.key');
    const cert = join(tmp.path, 'tls.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const srv = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(srv.address() as { port: number }).port}/`;
    try {
      const soon = await run({ type: 'http', url, tls: { verify: false, warn_expiry_within: '14d' } });
      assert.equal(soon.status, 'warn');
      assert.match(soon.detail, /certificate expires in [23]\.\d days/);
      assert.equal((await run({ type: 'http', url, tls: { verify: false, warn_expiry_within: '1d' } })).status, 'ok');
      const untrusted = await run({ type: 'http', url });
      assert.equal(untrusted.status, 'fail');
      assert.match(untrusted.detail, /SELF_SIGNED|self.signed/i);
    } finally {
      srv.close();
    }
  });

  it('tcp: connect, banner expected, refused', async () => {
    assert.equal((await run({ type: 'tcp', host: '127.0.0.1', port: bannerPort, expect: 'SSH-' })).status, 'ok');
    assert.match((await run({ type: 'tcp', host: '127.0.0.1', port: bannerPort, expect: 'HTTP/' })).detail, /closed before "HTTP\/"/);
    assert.match((await run({ type: 'tcp', host: '127.0.0.1', port: await freePort() })).detail, /ECONNREFUSED/);
  });

  it('command: exit 0 ok, 1 warn, 2 fail, and a timeout kills the process group', async () => {
    assert.deepEqual(
      [await run({ type: 'command', command: 'echo fine' }), await run({ type: 'command', command: 'echo meh; exit 1' }), await run({ type: 'command', command: 'echo bad >&2; exit 2' })].map((r) => [r.status, r.detail]),
      [['ok', 'fine'], ['warn', 'meh'], ['fail', 'bad']],
    );
    const marker = join(tmp.path, 'child-survived');
    const started = performance.now();
    const r = await run({ type: 'command', command: `(sleep 1; touch ${marker}) & sleep 30` }, 200);
    assert.equal(r.status, 'fail');
    assert.ok(performance.now() - started < 1000);
    await new Promise((res) => setTimeout(res, 1200));
    assert.throws(() => writeFileSync(join(marker, 'x'), ''), 'the backgrounded grandchild was killed with the group');
  });

  it('command: the process group is killed when the check ends, so backgrounded children never pile up', async () => {
    const secs = `${900 + (process.pid % 97)}.${Date.now() % 1000}`;
    const mine = () => listSleeps(secs);
    try {
      const r = await run({ type: 'command', command: `sleep ${secs} & echo started` });
      assert.deepEqual([r.status, r.detail], ['ok', 'started']);
      await waitFor(() => mine().length === 0, { timeout: 10_000, what: 'backgrounded sleep killed with the check' });
    } finally {
      for (const pid of mine()) process.kill(pid, 'SIGKILL');
    }
  });

  it('disk: used percent against the bound', async () => {
    assert.equal((await run({ type: 'disk', path: tmp.path, max_used_percent: 100 })).status, 'ok');
    assert.match((await run({ type: 'disk', path: tmp.path, max_used_percent: 0 })).detail, /% used, over 0%/);
    assert.match((await run({ type: 'disk', path: join(tmp.path, 'missing') })).detail, /ENOENT/);
  });

  it('file: exists, max_age, contains', async () => {
    const f = join(tmp.path, 'alive');
    writeFileSync(f, 'state=running\n');
    assert.equal((await run({ type: 'file', path: f, max_age: '1m', contains: 'running' })).status, 'ok');
    utimesSync(f, new Date(Date.now() - 180_000), new Date(Date.now() - 180_000));
    assert.match((await run({ type: 'file', path: f, max_age: '2m' })).detail, /older than 2m/);
    assert.match((await run({ type: 'file', path: f, contains: 'stopped' })).detail, /lacks "stopped"/);
    assert.match((await run({ type: 'file', path: join(tmp.path, 'nope') })).detail, /ENOENT/);
  });

  it('process: a zombie (state Z) is not a running process', async () => {
    const pidFile = join(tmp.path, 'zombie.pid');
    // The backgrounded sleep exits at once; its parent becomes `sleep 30` by exec and never reaps it.
    const parent = spawn('/bin/sh', ['-c', `sleep 0.05 & echo $! > ${pidFile}; exec sleep 30`], { stdio: 'ignore' });
    try {
      const zpid = await waitFor(() => {
        try {
          const pid = Number(readFileSync(pidFile, 'utf8').trim());
          return pid > 0 && readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ') ? pid : undefined;
        } catch {
          return undefined;
        }
      }, { timeout: 10_000, what: 'zombie child' });
      assert.ok(zpid);
      const r = await run({ type: 'process', match: { pid_file: pidFile } });
      assert.equal(r.status, 'fail', r.detail);
      assert.match(r.detail, /0 matching process\(es\) \(and 1 zombie\(s\), not counted\), want at least 1/);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('process: cmdline patterns are RE2 (linear time), and a pattern RE2 refuses is a config error naming it', async () => {
    assert.throws(() => check({ type: 'process', match: { cmdline: '(a)\\1' } }), /invalid regex .*invalid escape sequence.*RE2 syntax/);
    const tag = `opsfleet-re2-${process.pid}`;
    const p = spawn(process.execPath, ['-e', `process.title='${tag}'; setTimeout(()=>{}, 30000)`], { stdio: 'ignore' });
    try {
      // RE2's (?P<name>...) group syntax; a JavaScript RegExp throws on it.
      await waitFor(async () => (await run({ type: 'process', match: { cmdline: `^(?P<t>${tag})$` } })).status === 'ok', { what: 'RE2 named group matches' });
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('process: by cmdline and pid_file, count bounds, RSS and CPU', async () => {
    const tag = `opsfleet-proc-test-${process.pid}`;
    const child = spawn('/bin/bash', ['-c', `exec -a ${tag} sleep 30`], { stdio: 'ignore' });
    const busy = spawn(process.execPath, ['-e', `process.title='${tag}-busy'; for(;;){}`], { stdio: 'ignore' });
    try {
      const pidFile = join(tmp.path, 'pid');
      writeFileSync(pidFile, String(child.pid));
      // Both have started and renamed themselves (node takes a moment on a loaded machine).
      await waitFor(async () => (await run({ type: 'process', match: { cmdline: `^${tag}-busy` } })).status === 'ok', { what: 'busy process renamed' });
      await waitFor(async () => (await run({ type: 'process', match: { cmdline: `^${tag} 30` } })).status === 'ok', { what: 'sleep renamed' });
      assert.equal((await run({ type: 'process', match: { cmdline: `^${tag} 30` } })).status, 'ok');
      assert.equal((await run({ type: 'process', match: { pid_file: pidFile } })).status, 'ok');
      assert.match((await run({ type: 'process', match: { cmdline: `^${tag} 30`, name: 'nginx' } })).detail, /0 matching process\(es\), want at least 1/);
      assert.match((await run({ type: 'process', match: { cmdline: `^${tag} 30` }, min_count: 2 })).detail, /want at least 2/);
      assert.match((await run({ type: 'process', match: { pid_file: pidFile }, max_rss: 1 })).detail, /RSS .* over/);
      // The machine may be shared and loaded: a busy loop still gets well over 0.5 % of a core,
      // and a sleeping process none of it.
      const hot = await run({ type: 'process', match: { cmdline: `^${tag}-busy` }, max_cpu_percent: 0.5 });
      assert.equal(hot.status, 'fail', hot.detail);
      assert.match(hot.detail, /CPU [\d.]+% over 0\.5%/);
      assert.equal((await run({ type: 'process', match: { cmdline: `^${tag} 30` }, max_cpu_percent: 0.5 })).status, 'ok');
    } finally {
      child.kill('SIGKILL');
      busy.kill('SIGKILL');
    }
  });
});
