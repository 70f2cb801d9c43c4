import { strict as assert } from 'node:assert';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makePki, type TestPki } from '../helpers/certs.js';
import { runCommand, startController, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';

describe('bootstrap token, opsctl login and the API over TLS with a script-made CA', () => {
  const dir = tempDir('opsfleet-api-tls-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let pki: TestPki;
  const home = join(dir.path, 'home');
  const dataDir = join(dir.path, 'controller-data');
  const tokenFile = join(dataDir, 'admin.token');
  const tlsYaml = () => `tls: { cert: "${pki.serverCert}", key: "${pki.serverKey}" }`;
  /** opsctl as an operator's shell has it: its own config home, no token in the environment. */
  const opsctl = (args: string[]) => runCommand('opsctl', args, { XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: '', OPSFLEET_CONTROLLER: '' });

  before(async () => {
    pki = makePki(dir.path);
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, httpExtra: tlsYaml() });
  });
  after(async () => {
    await ctl?.child.stop();
    await nats?.stop();
    dir.cleanup();
  });

  it('a fresh data_dir gets admin.token (0600), its path logged; a restart keeps it and writes no other', async () => {
    assert.match(ctl.url, /^https:/);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    const secret = readFileSync(tokenFile, 'utf8').trim();
    assert.match(secret, /^opsf_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    assert.ok(ctl.child.logs().some((l) => l.msg === 'bootstrap admin token written' && l.file === tokenFile));
    const db = readFileSync(join(dataDir, 'controller.db'));
    assert.equal(db.includes(Buffer.from(secret)), false, 'only the hash is stored');
    await ctl.child.stop();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, httpExtra: tlsYaml() });
    assert.equal(readFileSync(tokenFile, 'utf8').trim(), secret);
    assert.ok(!ctl.child.logs().some((l) => l.msg === 'bootstrap admin token written'));
  });

  it('opsctl verifies the server against --ca; without it or with another CA it refuses', async () => {
    const ok = await runCommand('opsctl', ['--controller', ctl.url, '--ca', pki.ca, 'hosts', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), []);
    const noCa = await runCommand('opsctl', ['--controller', ctl.url, 'hosts', '--json']);
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /OPS_ERR_CONTROLLER_UNREACHABLE: cannot reach controller at https:\/\/127\.0\.0\.1:\d+ \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
    const rogue = await runCommand('opsctl', ['--controller', ctl.url, '--ca', join(dir.path, 'rogue', 'ca.crt'), 'hosts', '--json']);
    assert.equal(rogue.code, 1);
    assert.match(rogue.stderr, /OPS_ERR_CONTROLLER_UNREACHABLE/);
    const plain = await runCommand('opsctl', ['--controller', ctl.url.replace('https:', 'http:'), 'hosts', '--json']);
    assert.equal(plain.code, 1, 'plaintext to the TLS port fails');
  });

  it('opsctl login --token-file keeps token and CA in $XDG_CONFIG_HOME/opsfleet/credentials (0600); whoami and hosts then need no flags', async () => {
    const before = await opsctl(['hosts']);
    assert.equal(before.code, 1, 'no credentials yet: the default controller is not there');
    const login = await opsctl(['--controller', ctl.url, '--ca', pki.ca, 'login', '--token-file', tokenFile]);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /logged in to https:\/\/127\.0\.0\.1:\d+ as admin \(admin\)/);
    const credFile = join(home, 'opsfleet', 'credentials');
    assert.equal(statSync(credFile).mode & 0o777, 0o600);
    const creds = JSON.parse(readFileSync(credFile, 'utf8')) as { current: string; controllers: Record<string, { token: string; ca: string }> };
    assert.equal(creds.current, ctl.url);
    assert.equal(creds.controllers[ctl.url]!.ca, pki.ca);
    const me = await opsctl(['whoami', '--json']);
    assert.equal(me.code, 0, me.stderr);
    assert.deepEqual(JSON.parse(me.stdout), { name: 'admin', role: 'admin', playbooks: null, target: null, expiresAt: null });
    const hosts = await opsctl(['hosts', '--json']);
    assert.equal(hosts.code, 0, hosts.stderr);

    const made = await opsctl(['tokens', 'create', '--name', 'carol', '--role', 'viewer', '--ttl', '90d', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const carol = JSON.parse(made.stdout) as { name: string; role: string; secret: string; expiresAt: string };
    assert.equal(carol.role, 'viewer');
    assert.match(carol.secret, /^opsf_/);
    assert.ok(Date.parse(carol.expiresAt) > Date.now() + 89 * 86_400_000);
    const asCarol = await runCommand('opsctl', ['whoami'], { XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: carol.secret });
    assert.match(asCarol.stdout, /^carol \(viewer\)/);
    const forbidden = await runCommand('opsctl', ['policies', 'pause'], { XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: carol.secret });
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /OPS_ERR_AUTH_FORBIDDEN: token "carol" \(role viewer\) may not POST \/api\/v1\/policies\/pause: it needs admin/);
    const list = await opsctl(['tokens', 'list']);
    assert.match(list.stdout, /carol\s+│?\s*viewer/);
    assert.ok(!list.stdout.includes(carol.secret));
    assert.equal((await opsctl(['tokens', 'revoke', 'carol'])).code, 0);
    const revoked = await runCommand('opsctl', ['hosts'], { XDG_CONFIG_HOME: home, OPSFLEET_TOKEN: carol.secret });
    assert.match(revoked.stderr, /OPS_ERR_AUTH_REVOKED: token "carol" was revoked/);
    const none = await runCommand('opsctl', ['--controller', ctl.url, '--ca', pki.ca, 'hosts'], { XDG_CONFIG_HOME: join(dir.path, 'empty-home'), OPSFLEET_TOKEN: '' });
    assert.match(none.stderr, /OPS_ERR_AUTH_REQUIRED/);
  });

  it('refuses a non-loopback listen without TLS unless http.insecure: true (exit 2 naming the key)', async () => {
    const file = join(dir.path, 'exposed.yaml');
    const base = `nats: { servers: ["${nats.url}"] }\ndata_dir: ${join(dir.path, 'x')}\n`;
    writeFileSync(file, `${base}http: { listen: "0.0.0.0:8080" }\n`);
    const bad = await runCommand('opsfleet-controller', ['validate', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /exposed\.yaml:3:\d+ http\.listen: 0\.0\.0\.0:8080 is not a loopback address: set http\.tls/);
    writeFileSync(file, `${base}http: { listen: "0.0.0.0:8080", insecure: true }\n`);
    assert.equal((await runCommand('opsfleet-controller', ['validate', file])).code, 0);
    writeFileSync(file, `${base}http: { listen: "0.0.0.0:8080", tls: { cert: a.crt, key: a.key } }\n`);
    assert.equal((await runCommand('opsfleet-controller', ['validate', file])).code, 0);
    writeFileSync(file, `${base}http: { listen: "127.0.0.1:8080", auth: { enabled: false } }\n`);
    assert.equal((await runCommand('opsfleet-controller', ['validate', file])).code, 0);
    writeFileSync(file, `${base}http: { listen: "10.1.2.3:8080", tls: { cert: a.crt, key: a.key }, auth: { enabled: false } }\n`);
    assert.equal((await runCommand('opsfleet-controller', ['validate', file])).code, 2);
  });
});
