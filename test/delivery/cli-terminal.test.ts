import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from '../helpers/daemons.js';
import { REPO_ROOT } from '../helpers/process.js';

/** Runs opsctl on a real pseudo-terminal (util-linux `script`), as an operator's shell would. */
function onTty(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, join(REPO_ROOT, 'bin/opsctl.js'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const p = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('latin1').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('latin1').on('data', (d: string) => (out += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`timed out: ${out}`));
    }, 30_000);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

// A hostile agent controls what its heartbeat says: hostname, tags, output. These are the bytes.
const EVIL = 'evil\x1b]0;PWNED\x07\x1b[2J\u009b31m\rX';

describe('opsctl on a terminal', () => {
  let server: Server;
  let addr = '';
  before(async () => {
    // Stands in for the controller API: only the JSON opsctl reads matters here.
    server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      const h1 = { id: 'h1', status: 'online', lastSeen: new Date().toISOString(), hostname: EVIL, distro: 'Debian', os: 'linux', ipAddresses: ['127.0.0.1'], agentVersion: '0.1.0', tags: { role: EVIL } };
      if (req.url === '/api/v1/hosts') return void res.end(JSON.stringify([h1]));
      // The table reads summary pages (the controller's paged answer).
      if (req.url === '/api/v1/hosts?view=summary&limit=2000') return void res.end(JSON.stringify({ hosts: [h1], next: null }));
      if (req.url?.startsWith('/api/v1/alerts')) {
        const a = (i: number) => ({ fingerprint: `${i}`.repeat(16), status: 'firing', labels: { alertname: 'CheckDown', host: `web-${i}`, severity: 'critical', check: 'nginx-http', mount: '/var/lib/something', team: 'platform-operations' }, annotations: { summary: 'the nginx health endpoint answered 503 three times in a row' }, startsAt: new Date().toISOString(), count: 3, silencedBy: [], inhibitedBy: [] });
        return void res.end(JSON.stringify([a(1), a(2)]));
      }
      res.statusCode = 404;
      res.end('{"error":{"code":"OPS_ERR_NOT_FOUND","message":"no"}}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    addr = `127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server.close());

  it('escapes control characters from remote text in tables; --controller works without a scheme', async () => {
    const r = await onTty(['--controller', addr, 'hosts']);
    assert.equal(r.code, 0, r.out);
    assert.ok(!r.out.includes('\x1b') && !r.out.includes('\x07') && !r.out.includes('\u009b') && !/\r(?!\n)/.test(r.out), JSON.stringify(r.out));
    assert.match(r.out, /evil\\x1b\]0;PWNED\\x07\\x1b\[2J\\x9b31m\\rX/);
  });

  it('--json keeps the bytes as they are (JSON-escaped C0, raw C1)', async () => {
    const r = await runCommand('opsctl', ['--controller', addr, 'hosts', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Array<{ hostname: string }>)[0]!.hostname, EVIL);
  });

  it('the alerts table fits the terminal width', async () => {
    const r = await runCommand('opsctl', ['--controller', addr, 'alerts'], { COLUMNS: '100' });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    for (const l of lines) assert.ok(l.length <= 100, `${l.length} columns: ${l}`);
    assert.match(r.stdout, /CheckDown/);
    assert.match(r.stdout, /2 alert\(s\)/);
  });

  it('a controller address that is not a URL is a usage error (exit 2) naming it', async () => {
    const r = await runCommand('opsctl', ['--controller', 'http://[::1', 'hosts']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--controller: "http:\/\/\[::1" is not a URL/);
  });
});
