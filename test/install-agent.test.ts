import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { runCommand } from './helpers/daemons.js';
import { NatsServer } from './helpers/nats-server.js';
import { Child, REPO_ROOT } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { useCompiledPrograms } from './compiled/build.js';

// The installed service runs the compiled agent: build dist/ fresh, and run the bins from it.
useCompiledPrograms();

const SCRIPT = join(REPO_ROOT, 'scripts', 'install-agent.sh');

function install(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', [SCRIPT, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('scripts/install-agent.sh', () => {
  const tmp = tempDir('opsfleet-install-');
  let nats: NatsServer;
  before(async () => {
    nats = await NatsServer.start();
  });
  after(async () => {
    await nats?.dispose();
    tmp.cleanup();
  });

  it('--dry-run prints the config and the unit and changes nothing', async () => {
    const prefix = join(tmp.path, 'dry');
    const r = await install(['--dry-run', '--prefix', prefix, '--nats', 'nats://10.0.0.5:4222', '--id', 'web-01', '--tag', 'role=web', '--rpc-insecure']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /write .*etc\/opsfleet\/agent\.yaml/);
    assert.match(r.stdout, /id: web-01/);
    assert.match(r.stdout, /Restart=on-failure/);
    assert.match(r.stdout, /ExecStart=.*opt\/opsfleet\/bin\/opsfleet-agent\.js --config .*etc\/opsfleet\/agent\.yaml/);
    assert.equal(existsSync(prefix), false, 'a dry run must not create anything');
  });

  it('refuses bad arguments with exit 2 and a clear line', async () => {
    const noNats = await install(['--dry-run', '--id', 'web-01']);
    assert.equal(noNats.code, 2);
    assert.match(noNats.stderr, /--nats URL is required/);
    const badId = await install(['--dry-run', '--nats', 'nats://x:4222', '--id', 'web.01']);
    assert.equal(badId.code, 2);
    assert.match(badId.stderr, /--id web\.01/);
    const plaintext = await install(['--dry-run', '--nats', 'nats://x:4222', '--rpc-listen', '0.0.0.0:7443']);
    assert.equal(plaintext.code, 2);
    assert.match(plaintext.stderr, /--rpc-insecure or --rpc-tls/);
  });

  it('--prefix --link installs a config, state dir and unit whose ExecStart runs the agent', async () => {
    const prefix = join(tmp.path, 'root');
    const r = await install(['--prefix', prefix, '--link', '--nats', nats.url, '--id', 'inst-01', '--tag', 'role=db', '--tag', 'env=test', '--rpc-insecure', '--rpc-listen', '127.0.0.1:0']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const app = join(prefix, 'opt', 'opsfleet');
    assert.ok(lstatSync(app).isSymbolicLink());
    assert.equal(readlinkSync(app), REPO_ROOT.replace(/\/$/, ''));
    const conf = join(prefix, 'etc', 'opsfleet', 'agent.yaml');
    const cfg = parse(readFileSync(conf, 'utf8')) as { host: { id: string; tags: Record<string, string> }; state_dir: string };
    assert.deepEqual(cfg.host, { id: 'inst-01', tags: { role: 'db', env: 'test' } });
    assert.equal(cfg.state_dir, join(prefix, 'var', 'lib', 'opsfleet'));
    assert.equal((await runCommand('opsfleet-agent', ['validate', conf])).code, 0);
    assert.equal(lstatSync(conf).mode & 0o777, 0o640);

    const unit = readFileSync(join(prefix, 'etc', 'systemd', 'system', 'opsfleet-agent.service'), 'utf8');
    assert.match(unit, /^Restart=on-failure$/m);
    assert.match(unit, /^RestartPreventExitStatus=2$/m);
    const exec = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(' ');
    assert.match(unit, /^Environment=OPSFLEET_RUNTIME=dist$/m);
    // Run exactly what systemd would run: the compiled agent starts, reports, and stops cleanly on SIGTERM.
    const agent = new Child(exec[0]!, exec.slice(1), { env: { OPSFLEET_RUNTIME: 'dist' } });
    try {
      await agent.waitForLog((l) => l.msg === 'agent started', 20_000, 'installed agent started');
      assert.equal(agent.logs().find((l) => l.msg === 'opsfleet-agent starting')?.runtime, 'compiled');
      agent.kill('SIGTERM');
      const { code } = await agent.exited;
      assert.equal(code, 0, agent.tail());
    } finally {
      await agent.stop();
    }
    assert.ok(existsSync(join(cfg.state_dir, 'outbox.db')));
  });

  it('refuses a source without a compiled agent when it cannot build one', async () => {
    const src = join(tmp.path, 'unbuilt');
    for (const d of ['bin', 'node_modules']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'bin', 'opsfleet-agent.js'), '');
    const r = await install(['--prefix', join(tmp.path, 'unbuilt-root'), '--source', src, '--nats', 'nats://127.0.0.1:4222', '--id', 'x-01']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /has no compiled agent \(dist\/opsfleet-agent\.js\): run 'npm run build' there first/);
  });

  it('keeps an existing agent.yaml unless --force', async () => {
    const prefix = join(tmp.path, 'root');
    const conf = join(prefix, 'etc', 'opsfleet', 'agent.yaml');
    writeFileSync(conf, `nats: { servers: ["${nats.url}"] }\nhost: { id: kept }\nstate_dir: ${join(prefix, 'state2')}\n`);
    const kept = await install(['--prefix', prefix, '--link', '--nats', nats.url, '--id', 'other']);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /exists; kept/);
    assert.match(readFileSync(conf, 'utf8'), /id: kept/);
    const forced = await install(['--prefix', prefix, '--link', '--force', '--nats', nats.url, '--id', 'other']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(readFileSync(conf, 'utf8'), /id: other/);
  });

  it('copies a source checkout without .git and .data', async () => {
    // A stand-in checkout: its "agent" only answers `validate`, enough for the installer's check.
    const src = join(tmp.path, 'src');
    for (const d of ['bin', 'dist', 'node_modules/x', '.git', '.data']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'bin', 'opsfleet-agent.js'), "process.stdout.write('ok\\n');\n");
    for (const f of ['opsfleet-agent.js', 'snapshot-child.js']) writeFileSync(join(src, 'dist', f), '');
    writeFileSync(join(src, 'node_modules', 'x', 'index.js'), '');
    writeFileSync(join(src, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    const prefix = join(tmp.path, 'copy');
    const r = await install(['--prefix', prefix, '--source', src, '--nats', 'nats://127.0.0.1:4222', '--id', 'copy-01']);
    assert.equal(r.code, 0, r.stderr);
    const app = join(prefix, 'opt', 'opsfleet');
    assert.ok(existsSync(join(app, 'bin', 'opsfleet-agent.js')));
    assert.ok(existsSync(join(app, 'dist', 'opsfleet-agent.js')));
    assert.ok(existsSync(join(app, 'node_modules', 'x', 'index.js')));
    assert.equal(existsSync(join(app, '.git')), false);
    assert.equal(existsSync(join(app, '.data')), false);
  });
});
