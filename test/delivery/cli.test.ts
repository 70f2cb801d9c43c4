import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
after(() => dir.cleanup());

function file(name: string, text: string): string {
  const p = join(dir.path, name);
  writeFileSync(p, text);
  return p;
}

describe('daemon and opsctl command lines', () => {
  for (const cmd of ['opsfleet-agent', 'opsfleet-controller', 'opsctl'] as const) {
    it(`${cmd} has --help and --version`, async () => {
      const v = await runCommand(cmd, ['--version']);
      assert.equal(v.code, 0);
      assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
      const h = await runCommand(cmd, ['--help']);
      assert.equal(h.code, 0);
      assert.match(h.stdout, new RegExp(`Usage: ${cmd}`));
    });
  }

  it('validate: exit 0 on a valid agent config', async () => {
    const f = file('ok-agent.yaml', 'host: { id: web-01 }\nnats: { servers: ["nats://127.0.0.1:4222"] }\nrpc: { listen: "127.0.0.1:7443", insecure: true }\n');
    const r = await runCommand('opsfleet-agent', ['validate', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok-agent\.yaml: ok/);
  });

  it('validate: exit 2 and one FILE:LINE:COL line per problem (wrong type, unknown key, bad duration, missing nats)', async () => {
    const f = file('bad-agent.yaml', 'host:\n  id: 42x\n  colour: blue\nheartbeat_interval: soon\nstate_dir: 7\n');
    const r = await runCommand('opsfleet-agent', ['validate', f]);
    assert.equal(r.code, 2);
    assert.deepEqual(r.stderr.trim().split('\n'), [
      `${f}:1:1 nats: required (object)`,
      `${f}:3:3 host.colour: unknown key "colour"`,
      `${f}:4:21 heartbeat_interval: expected a duration like "5s", "10m" or "1h", got "soon"`,
      `${f}:5:12 state_dir: expected string, got number 7`,
    ]);
  });

  it('validate: controller config problems, and a missing file, exit 2', async () => {
    const f = file('bad-ctl.yaml', 'nats: { servers: [] }\noffline_after: -5s\nhttp: { listen: "localhost:99999" }\n');
    const r = await runCommand('opsfleet-controller', ['validate', f]);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 3, r.stderr);
    assert.match(lines[0]!, /bad-ctl\.yaml:1:18 nats\.servers: at least one server is required/);
    assert.match(lines[1]!, /bad-ctl\.yaml:2:16 offline_after: expected a duration/);
    assert.match(lines[2]!, /bad-ctl\.yaml:3:17 http\.listen: expected "host:port"/);
    const missing = await runCommand('opsfleet-controller', ['validate', join(dir.path, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read config file .*nope\.yaml: ENOENT/);
  });

  it('running a daemon with a bad config refuses to start with exit 2 and the problem lines', async () => {
    const f = file('bad-run.yaml', 'nats: { servers: ["nats://127.0.0.1:1"] }\nrpc: { listen: "127.0.0.1:0" }\n');
    const r = await runCommand('opsfleet-agent', ['--config', f]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), `${f}:2:16 rpc.listen: plaintext RPC listener refused: configure tls { ca, cert, key } or write insecure: true`);
  });

  it('an unknown opsctl command is a usage error (exit 2)', async () => {
    const r = await runCommand('opsctl', ['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });
});
