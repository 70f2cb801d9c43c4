import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { api, createEnrollToken, createToken, runCommand, startController, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { Child, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { buildRelease, nextPatch, PKG_VERSION } from './release.js';

// The one-line install end to end: the release bundle (with its own Node 24 runtime) is served
// by a real controller, installed with the served script into a temporary root, and the
// installed agent is started from the installed files and commanded over mTLS.

interface HostView {
  id: string;
  status: string;
  agentVersion: string;
  instanceId: string;
}

function bash(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', [script, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const PLAYBOOKS = `
playbooks:
  inspect:
    timeout: 30s
    steps:
      - builtin: memory
      - builtin: load
`;

describe('one-line install: release bundle served by the controller, installed into a prefix', () => {
  const tmp = tempDir('opsfleet-install-e2e-');
  const served = join(tmp.path, 'downloads');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let bundleN = '';
  let bundleN1 = '';
  const versionN1 = nextPatch(PKG_VERSION);
  const prefix = join(tmp.path, 'root');
  const agents: Child[] = [];
  let adminToken = '';

  before(async () => {
    // Version N and N+1 of the agent bundle (the runtime and the compiled addons come from the
    // cache in .cache/release; a fresh clone compiles them once).
    bundleN = await buildRelease(join(tmp.path, 'rel-n'), PKG_VERSION);
    bundleN1 = await buildRelease(join(tmp.path, 'rel-n1'), versionN1);
    mkdirSync(served);
    for (const f of [bundleN, `${bundleN}.sha256`]) copyFileSync(f, join(served, f.split('/').at(-1)!));
    nats = await NatsServer.start();
    ctl = await startController({
      natsUrl: nats.url,
      dir: tmp.path,
      extraYaml: `${PLAYBOOKS}\ndownloads: { dir: "${served}" }`,
    });
    adminToken = await createToken(ctl.url, { name: 'installer-test', role: 'admin' });
  });
  after(async () => {
    for (const a of agents) await a.stop();
    await ctl?.child.stop();
    await nats?.stop();
    tmp.cleanup();
  });

  async function fetchScript(): Promise<string> {
    const res = await fetch(`${ctl.url}/install.sh`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /shellscript/);
    const file = join(tmp.path, 'install.sh');
    writeFileSync(file, await res.text());
    return file;
  }

  /** Starts the agent exactly as the installed unit would: its ExecStart line, from the installed files. */
  async function startInstalled(): Promise<Child> {
    const unit = readFileSync(join(prefix, 'etc/systemd/system/opsfleet-agent.service'), 'utf8');
    const [cmd, ...args] = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(' ');
    const child = new Child(cmd!, args, { env: { OPSFLEET_RUNTIME: '' } });
    agents.push(child);
    await child.waitForLog((l) => l.msg === 'agent started', 30_000, 'installed agent started');
    return child;
  }

  it('serves install.sh with its address and the newest agent version baked in, and the bundle with its sum', async () => {
    const text = readFileSync(await fetchScript(), 'utf8');
    assert.match(text, new RegExp(`^BAKED_CONTROLLER_URL='${ctl.url}'$`, 'm'));
    assert.match(text, new RegExp(`^BAKED_VERSION='${PKG_VERSION.replace(/\./g, '\\.')}'$`, 'm'));
    assert.match(text, new RegExp(`^BAKED_NATS='${nats.url}'$`, 'm'));
    const name = bundleN.split('/').at(-1)!;
    const sum = await fetch(`${ctl.url}/downloads/${name}.sha256`);
    assert.equal(sum.status, 200);
    assert.equal(await sum.text(), readFileSync(`${bundleN}.sha256`, 'utf8'));
    const head = await fetch(`${ctl.url}/downloads/${name}`);
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), statSync(bundleN).size);
    await head.body?.cancel();
  });

  it('refuses path traversal and names that are not bundles, without a token and without serving anything', async () => {
    for (const [path, status] of [
      ['/downloads/..%2F..%2Fetc%2Fpasswd', 400],
      ['/downloads/controller.yaml', 400],
      ['/downloads/opsfleet-agent-9.9.9-linux-x64.tar.gz', 404],
    ] as const) {
      const res = await fetch(`${ctl.url}${path}`);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, status, `${path}: ${JSON.stringify(body)}`);
      assert.match(body.error.code, /^OPS_ERR_(DOWNLOAD_NAME|DOWNLOAD_NOT_FOUND)$/);
    }
    // '/downloads/..' and '%2e%2e' are normalised by the URL parser to '/': the dashboard's page,
    // never a file of the downloads folder.
    for (const path of ['/downloads/%2e%2e', '/downloads/..']) {
      const res = await fetch(`${ctl.url}${path}`);
      const text = await res.text();
      assert.match(String(res.headers.get('content-type')), /^text\/html/, `${path}: ${res.status} ${text.slice(0, 120)}`);
      assert.match(text, /^<!doctype html>/i);
    }
  });

  it('--dry-run prints every step and changes nothing', async () => {
    const dry = join(tmp.path, 'dry');
    const r = await bash(await fetchScript(), ['--dry-run', '--prefix', dry, '--id', 'web-01', '--token', 'opsf_secret_value', '--no-enable']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\+ curl -fsSL .*\/downloads\/opsfleet-agent-.*\.tar\.gz\.sha256/);
    assert.match(r.stdout, /\+ sha256sum /);
    assert.match(r.stdout, /\+ tar -xzf .* -C .*opt\/opsfleet\/versions\//);
    assert.match(r.stdout, /write .*etc\/opsfleet\/agent\.yaml/);
    assert.match(r.stdout, /enroll --config .* --token \*\*\*/);
    assert.doesNotMatch(r.stdout, /opsf_secret_value/, 'the token is never printed');
    assert.match(r.stdout, /ProtectSystem=strict/);
    assert.equal(existsSync(dry), false, 'a dry run must not create anything');
  });

  it('a bundle whose sha256 does not match installs nothing', async () => {
    const bad = join(tmp.path, 'bad');
    mkdirSync(bad);
    const copy = join(bad, bundleN.split('/').at(-1)!);
    copyFileSync(bundleN, copy);
    writeFileSync(`${copy}.sha256`, `${'0'.repeat(64)}  ${copy.split('/').at(-1)!}\n`);
    const root = join(tmp.path, 'bad-root');
    const r = await bash(join(REPO_ROOT, 'scripts/install.sh'), ['--bundle', copy, '--prefix', root, '--no-enable']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /sha256 mismatch .*nothing was installed/);
    assert.equal(existsSync(join(root, 'opt/opsfleet/versions')), false);
  });

  it('installs from the served script with an enrollment token; the installed agent on its bundled Node 24 enrolls, comes online and runs a playbook over mTLS', async () => {
    const token = await createEnrollToken(ctl.url, { ttl: '1h', uses: 5 });
    const r = await bash(await fetchScript(), ['--prefix', prefix, '--no-enable', '--id', 'inst-01', '--tag', 'role=web', '--token', token, '--rpc-listen', '127.0.0.1:0']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /done: agent .* on inst-01/);
    assert.match(r.stdout, /enrolled with .* as inst-01/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(token), 'the token is never printed');
    const identity = JSON.parse(readFileSync(join(prefix, 'var/lib/opsfleet/identity/identity.json'), 'utf8')) as { host_id: string };
    assert.equal(identity.host_id, 'inst-01');
    assert.equal(statSync(join(prefix, 'var/lib/opsfleet/identity/key.pem')).mode & 0o777, 0o600);
    const app = join(prefix, 'opt/opsfleet');
    assert.equal(readlinkSync(join(app, 'current')), `versions/${PKG_VERSION}`);
    const cfg = parse(readFileSync(join(prefix, 'etc/opsfleet/agent.yaml'), 'utf8')) as { host: { id: string; tags: Record<string, string> }; nats: { servers: string[] }; state_dir: string; rpc: { identity: boolean } };
    assert.equal(cfg.rpc.identity, true, 'gRPC served with the enrolled certificate');
    assert.deepEqual(cfg.host, { id: 'inst-01', tags: { role: 'web' } });
    assert.deepEqual(cfg.nats.servers, [nats.url], 'the NATS URL baked by the controller');
    assert.equal(statSync(join(prefix, 'etc/opsfleet/agent.yaml')).mode & 0o777, 0o640);
    const unit = readFileSync(join(prefix, 'etc/systemd/system/opsfleet-agent.service'), 'utf8');
    for (const line of ['NoNewPrivileges=yes', 'ProtectSystem=strict', `ReadWritePaths=${join(prefix, 'var/lib/opsfleet')}`, 'PrivateTmp=yes', 'RestartPreventExitStatus=2']) assert.ok(unit.includes(`\n${line}\n`), `unit has ${line}`);
    assert.match(unit, new RegExp(`^ExecStart=${app}/current/bin/opsfleet-agent --config `, 'm'));

    const agent = await startInstalled();
    // The process runs the bundle's runtime, not this machine's Node.
    const exe = readlinkSync(`/proc/${agent.pid}/exe`);
    assert.equal(exe, realpathSync(join(app, 'versions', PKG_VERSION, 'runtime/bin/node')));
    const host = await waitFor(async () => {
      const hs = await api<HostView[]>(ctl.url, '/api/v1/hosts');
      return hs.find((h) => h.id === 'inst-01' && h.status === 'online');
    }, { timeout: 30_000, what: 'inst-01 online' });
    assert.equal(host.agentVersion, PKG_VERSION);
    const run = await runCommand('opsctl', ['run', 'inspect', '--target', 'inst-01', '--json', '--controller', ctl.url], { OPSFLEET_TOKEN: adminToken }, 60_000);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const recap = JSON.parse(run.stdout) as { counts: Record<string, number>; hosts: Record<string, { steps: Array<{ name: string }> }> };
    assert.deepEqual(recap.counts, { ok: 1, failed: 0, refused: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(recap.hosts['inst-01']!.steps.map((s) => s.name), ['memory', 'load']);
  });

  it('upgrades N -> N+1 in place: config, identity and outbox kept, current swapped; --rollback swaps back', async () => {
    const before = (await api<HostView[]>(ctl.url, '/api/v1/hosts')).find((h) => h.id === 'inst-01')!;
    const lastSeq = (await api<Array<{ seq: number; instanceId: string }>>(ctl.url, '/api/v1/events?host=inst-01&limit=100000')).filter((e) => e.instanceId === before.instanceId).reduce((m, e) => Math.max(m, e.seq), 0);
    assert.ok(lastSeq > 0, 'the agent delivered events before the upgrade');
    await agents.pop()!.stop();
    const confBefore = readFileSync(join(prefix, 'etc/opsfleet/agent.yaml'), 'utf8');
    const outbox = join(prefix, 'var/lib/opsfleet/outbox.db');
    const outboxIno = statSync(outbox).ino;
    const identityBefore = readFileSync(join(prefix, 'var/lib/opsfleet/identity/identity.json'), 'utf8');
    const certBefore = readFileSync(join(prefix, 'var/lib/opsfleet/identity/cert.pem'), 'utf8');

    for (const f of [bundleN1, `${bundleN1}.sha256`]) copyFileSync(f, join(served, f.split('/').at(-1)!));
    const script = await fetchScript();
    assert.match(readFileSync(script, 'utf8'), new RegExp(`^BAKED_VERSION='${versionN1.replace(/\./g, '\\.')}'$`, 'm'), 'the newest bundle is baked');
    // The same line as the first install, token included: an upgrade must not re-enroll.
    const r = await bash(script, ['--prefix', prefix, '--no-enable', '--id', 'inst-01', '--token', 'opsf_unused_on_upgrade']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /already enrolled .*identity kept/);
    assert.equal(readFileSync(join(prefix, 'var/lib/opsfleet/identity/identity.json'), 'utf8'), identityBefore, 'identity kept');
    assert.equal(readFileSync(join(prefix, 'var/lib/opsfleet/identity/cert.pem'), 'utf8'), certBefore, 'certificate kept');
    const app = join(prefix, 'opt/opsfleet');
    assert.equal(readlinkSync(join(app, 'current')), `versions/${versionN1}`);
    assert.equal(readlinkSync(join(app, 'previous')), `versions/${PKG_VERSION}`);
    assert.equal(readFileSync(join(prefix, 'etc/opsfleet/agent.yaml'), 'utf8'), confBefore, 'agent.yaml kept');
    assert.equal(statSync(outbox).ino, outboxIno, 'the outbox file is the same file');

    await startInstalled();
    const after = await waitFor(async () => {
      const h = (await api<HostView[]>(ctl.url, '/api/v1/hosts')).find((x) => x.id === 'inst-01');
      return h?.agentVersion === versionN1 && h.status === 'online' ? h : undefined;
    }, { timeout: 30_000, what: `inst-01 reporting ${versionN1}` });
    assert.equal(after.instanceId, before.instanceId, 'same instance: the state dir (identity, outbox) survived the upgrade');
    const events = await waitFor(async () => {
      const evs = await api<Array<{ seq: number; instanceId: string }>>(ctl.url, '/api/v1/events?host=inst-01&limit=100000');
      return evs.some((e) => e.seq > lastSeq && e.instanceId !== 'controller') ? evs : undefined;
    }, { timeout: 30_000, what: 'events after the upgrade' });
    const fresh = events.filter((e) => e.seq > lastSeq && e.instanceId !== 'controller');
    assert.deepEqual([...new Set(fresh.map((e) => e.instanceId))], [before.instanceId], 'the outbox kept counting under the same instance');
    await agents.pop()!.stop();

    const rb = await bash(script, ['--prefix', prefix, '--rollback']);
    assert.equal(rb.code, 0, rb.stdout + rb.stderr);
    assert.equal(readlinkSync(join(app, 'current')), `versions/${PKG_VERSION}`);
    assert.equal(readlinkSync(join(app, 'previous')), `versions/${versionN1}`);
    assert.match(rb.stdout, new RegExp(`rolled back: ${versionN1.replace(/\./g, '\\.')} -> ${PKG_VERSION.replace(/\./g, '\\.')}`));
  });

  it('--uninstall keeps config and state; --purge removes them', async () => {
    const script = await fetchScript();
    const u = await bash(script, ['--prefix', prefix, '--uninstall']);
    assert.equal(u.code, 0, u.stdout + u.stderr);
    assert.equal(existsSync(join(prefix, 'opt/opsfleet')), false);
    assert.equal(existsSync(join(prefix, 'etc/systemd/system/opsfleet-agent.service')), false);
    assert.ok(existsSync(join(prefix, 'etc/opsfleet/agent.yaml')));
    assert.ok(existsSync(join(prefix, 'var/lib/opsfleet/outbox.db')));
    assert.ok(lstatSync(join(prefix, 'var/lib/opsfleet')).isDirectory());
    const p = await bash(script, ['--prefix', prefix, '--uninstall', '--purge']);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    assert.equal(existsSync(join(prefix, 'etc/opsfleet')), false);
    assert.equal(existsSync(join(prefix, 'var/lib/opsfleet')), false);
  });

  it('deploy/controller.compose.yaml (the container image config) validates', async () => {
    const r = await runCommand('opsfleet-controller', ['validate', join(REPO_ROOT, 'deploy/controller.compose.yaml')], { OPSFLEET_PUBLIC_URL: 'https://ops.example.com:8080', OPSFLEET_AGENT_NATS: 'nats://ops.example.com:4222' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('the bundled runtime runs the internals-dependent code paths and their fallbacks (tcp_wrap dialer and net.Socket fallback)', () => {
    // The sweep's fast dialer uses process.binding('tcp_wrap'); the suite checks it and the
    // net.Socket fallback give the same answers. Run under the bundle's Node 24, not ours.
    const node = join(tmp.path, 'rt-check');
    mkdirSync(node);
    execFileSync('tar', ['-xzf', bundleN, '-C', node, '--strip-components=1', '--wildcards', '*/runtime/bin/node']);
    const out = execFileSync(join(node, 'runtime/bin/node'), ['--import', 'tsx', '--test', '--test-reporter=spec', 'test/health/sweep.test.ts'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', NODE_TEST_CONTEXT: undefined } });
    assert.match(out, /tcp_wrap dialer \(default\)/);
    assert.match(out, /net\.Socket dialer \(fallback\)/);
    assert.match(out, /ℹ fail 0/);
    const v = execFileSync(join(node, 'runtime/bin/node'), ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    assert.match(v, /^24\./);
  });
});
