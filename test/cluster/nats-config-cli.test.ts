import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';

// `opsfleet-controller nats-config` for one node of a cluster (docs/scaling.md, "NATS cluster"):
// the same operator-mode config as a single server, plus server_name and an authenticated cluster block.
describe('opsfleet-controller nats-config --server-name: a cluster node config', () => {
  const dir = tempDir('opsfleet-nats-config-');
  after(() => dir.cleanup());

  it('writes server_name and a cluster block whose routes carry the route credentials', { timeout: 60_000 }, async () => {
    const pass = join(dir.path, 'route.pass');
    writeFileSync(pass, 's3cret-route\n');
    const r = await runCommand('opsfleet-controller', [
      'nats-config', '--auth-dir', join(dir.path, 'auth'), '--host', '0.0.0.0', '--store-dir', '/var/lib/nats',
      '--server-name', 'n1', '--cluster-port', '6222', '--route', 'nats-route://nats-2:6222', '--route', 'nats-route://nats-3:6222', '--route-password-file', pass,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^server_name: "n1"$/m);
    assert.match(r.stdout, /^cluster \{\n {2}name: "opsfleet"\n {2}listen: "0\.0\.0\.0:6222"\n {2}authorization \{\n {4}user: "route"\n {4}password: "s3cret-route"\n {2}\}/m);
    assert.match(r.stdout, /routes: \[ "nats-route:\/\/route:s3cret-route@nats-2:6222", "nats-route:\/\/route:s3cret-route@nats-3:6222" \]/);
    // The operator-mode part is the single server's.
    assert.match(r.stdout, /^operator: "eyJ/m);
    assert.match(r.stdout, /type: full/);
  });

  it('refuses a cluster node without route credentials, with an unreadable password file, with a malformed route, or route flags without --server-name (exit 2, OPS_ERR_USAGE)', { timeout: 60_000 }, async () => {
    const auth = ['nats-config', '--auth-dir', join(dir.path, 'auth'), '--server-name', 'n1'];
    const noPass = await runCommand('opsfleet-controller', [...auth, '--route', 'nats-route://nats-2:6222']);
    assert.equal(noPass.code, 2);
    assert.match(noPass.stderr, /OPS_ERR_USAGE.*--route-password-file/);
    const pass = join(dir.path, 'p');
    writeFileSync(pass, 'x');
    const bad = await runCommand('opsfleet-controller', [...auth, '--route', 'nats-2:6222', '--route-password-file', pass]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--route: expected nats-route:\/\/host:port/);
    const missing = await runCommand('opsfleet-controller', [...auth, '--route', 'nats-route://nats-2:6222', '--route-password-file', join(dir.path, 'nope')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /OPS_ERR_USAGE.*--route-password-file: cannot read .*nope/);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, 'one line, no stack');
    // Route flags without --server-name would be dropped silently.
    const noName = await runCommand('opsfleet-controller', ['nats-config', '--auth-dir', join(dir.path, 'auth'), '--route', 'nats-route://nats-2:6222']);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /OPS_ERR_USAGE.*give --server-name too/);
  });
});
