import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Child, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { buildRelease, PKG_VERSION } from './release.js';

// install-controller.sh from a controller bundle into a prefix, then the two installed units'
// ExecStart lines started as systemd would: nats-server with the generated config, and the
// controller on the bundle's runtime.

function bash(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', [script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function execStart(unitFile: string): [string, string[]] {
  const [cmd, ...args] = /^ExecStart=(.+)$/m.exec(readFileSync(unitFile, 'utf8'))![1]!.split(' ');
  return [cmd!, args];
}

describe('scripts/install-controller.sh: controller + nats-server from the controller bundle', () => {
  const tmp = tempDir('opsfleet-ctl-install-');
  const prefix = join(tmp.path, 'root');
  const children: Child[] = [];
  let bundle = '';
  let agentBundle = '';

  before(async () => {
    bundle = await buildRelease(join(tmp.path, 'rel'), PKG_VERSION, 'controller');
    // The controller only serves the agent bundle: a small stand-in with a true sum will do here.
    const rel = join(tmp.path, 'agent-rel');
    mkdirSync(rel);
    agentBundle = join(rel, `opsfleet-agent-${PKG_VERSION}-linux-x64.tar.gz`);
    writeFileSync(agentBundle, 'stand-in');
    writeFileSync(`${agentBundle}.sha256`, `${execFileSync('sha256sum', [agentBundle], { encoding: 'utf8' }).split(' ')[0]}  ${agentBundle.split('/').at(-1)}\n`);
  });
  after(async () => {
    for (const c of children.reverse()) await c.stop();
    tmp.cleanup();
  });

  it('--dry-run prints the units and configs and creates nothing', async () => {
    const dry = join(tmp.path, 'dry');
    const r = await bash(join(REPO_ROOT, 'scripts/install-controller.sh'), ['--bundle', bundle, '--prefix', dry, '--dry-run']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /write .*opsfleet-nats\.service/);
    assert.match(r.stdout, /write .*opsfleet-controller\.service/);
    assert.match(r.stdout, /ProtectSystem=strict/);
    assert.equal(existsSync(dry), false);
  });

  it('installs into a prefix; the installed nats-server and controller start from the units and serve the agent install', async () => {
    const natsPort = await freePort();
    const args = ['--bundle', bundle, '--agent-bundle', agentBundle, '--prefix', prefix, '--no-enable', '--listen', '127.0.0.1:0', '--nats-listen', `127.0.0.1:${natsPort}`];
    const r = await bash(join(REPO_ROOT, 'scripts/install-controller.sh'), args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /admin token: .*var\/lib\/opsfleet-controller\/admin\.token/);
    assert.match(r.stdout, /fleet CA: .*pki\/ca\.crt/);
    assert.equal(readlinkSync(join(prefix, 'opt/opsfleet-controller/current')), `versions/${PKG_VERSION}`);

    const again = await bash(join(REPO_ROOT, 'scripts/install-controller.sh'), args);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /controller\.yaml exists; kept/);
    assert.match(again.stdout, /already in/);

    const units = join(prefix, 'etc/systemd/system');
    const [natsCmd, natsArgs] = execStart(join(units, 'opsfleet-nats.service'));
    const nats = new Child(natsCmd, natsArgs);
    children.push(nats);
    await waitFor(() => nats.stderr.includes('Server is ready') || nats.stdout.includes('Server is ready'), { timeout: 20_000, what: 'nats-server ready' });
    assert.ok(existsSync(join(prefix, 'var/lib/opsfleet-nats/jetstream')), 'JetStream store in the installed store dir');

    const [ctlCmd, ctlArgs] = execStart(join(units, 'opsfleet-controller.service'));
    assert.equal(ctlCmd, join(prefix, 'opt/opsfleet-controller/current/bin/opsfleet-controller'));
    const ctl = new Child(ctlCmd, ctlArgs, { env: { OPSFLEET_RUNTIME: '' } });
    children.push(ctl);
    const line = await ctl.waitForLog((l) => l.msg === 'http api listening', 30_000, 'installed controller listening');
    const url = `http://127.0.0.1:${String(line.port)}`;
    assert.ok(existsSync(join(prefix, 'var/lib/opsfleet-controller/admin.token')), 'the first start wrote the admin token where the installer said');
    // The CA is made in the background after the first start (the API does not wait for it).
    await waitFor(() => existsSync(join(prefix, 'var/lib/opsfleet-controller/pki/ca.crt')), { timeout: 30_000, what: 'the fleet CA in the data dir' });
    const health = await waitFor(async () => {
      const h = (await (await fetch(`${url}/healthz`)).json()) as { status: string; version: string };
      return h.status === 'ok' ? h : undefined;
    }, { timeout: 30_000, what: 'controller healthy (NATS connected)' });
    assert.equal(health.version, PKG_VERSION);
    const script = await (await fetch(`${url}/install.sh`)).text();
    assert.match(script, new RegExp(`^BAKED_VERSION='${PKG_VERSION.replace(/\./g, '\\.')}'$`, 'm'), 'serves the agent bundle the installer copied');
    const sum = await fetch(`${url}/downloads/${agentBundle.split('/').at(-1)}.sha256`);
    assert.equal(sum.status, 200);
  });
});
