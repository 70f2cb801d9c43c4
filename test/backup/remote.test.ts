import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { diffTrees, write } from './helpers.js';

interface NowView {
  host: string;
  set: string;
  taken: boolean;
  id: string;
  type: string;
  parent: string;
  files: number;
  bytes: number;
  lastId: string;
}

interface AuditView {
  actor: string;
  action: string;
  subject: string;
  details: { ok: boolean; code?: string };
}

/**
 * The operator surface through the controller: opsctl → HTTP API → gRPC → the agent's
 * snapshot, verify and restore code, against a dir target. The debounce is long so that the
 * only snapshots are the ones `backup now` asks for.
 */
describe('opsctl backup now | verify | restore through the controller and the agent (gRPC)', () => {
  const tmp = tempDir('opsfleet-backup-remote-');
  const src = join(tmp.path, 'src');
  const targetDir = join(tmp.path, 'target');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc;
  let env: NodeJS.ProcessEnv;
  const ids: string[] = [];
  const opsctl = (...args: string[]) => runCommand('opsctl', args, env);
  const archive = (id: string) => join(targetDir, 'rb1', 'conf', 'snapshots', `${id}.tar.gz`);

  before(async () => {
    mkdirSync(src);
    write(src, 'app.conf', 'v=1\n');
    write(src, 'sites/a.conf', 'server a;\n');
    write(src, 'sites/deep/b.conf', 'server b;\n');
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: tmp.path });
    env = { OPSFLEET_CONTROLLER: ctl.url, OPSFLEET_ACTOR: 'tester' };
    agent = await startAgent({
      natsUrl: nats.url,
      dir: tmp.path,
      id: 'rb1',
      extraYaml: [
        'backups:',
        '  - name: conf',
        `    paths: ["${src}"]`,
        '    debounce: 10m',
        '    max_delay: 10m',
        `    target: { type: dir, path: "${targetDir}" }`,
        '  - name: broken',
        `    paths: ["${join(tmp.path, 'does-not-exist')}"]`,
        `    target: { type: dir, path: "${targetDir}" }`,
      ].join('\n'),
    });
    // The controller learns the agent's RPC endpoint from its heartbeat.
    await waitFor(async () => (await api<Array<{ id: string }>>(ctl.url, '/api/v1/hosts')).some((h) => h.id === 'rb1'), { timeout: 15_000, what: 'host rb1 known' });
  });
  after(async () => {
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    tmp.cleanup();
  });

  it('backup now takes a full, then an incremental; opsctl backup list shows them; nothing changed → no snapshot', async () => {
    const r1 = await opsctl('backup', 'now', '--host', 'rb1', '--set', 'conf');
    assert.equal(r1.code, 0, r1.stderr);
    const m1 = /snapshot (\S+) \(full\): 3 files/.exec(r1.stdout);
    assert.ok(m1, r1.stdout);
    ids.push(m1[1]!);

    const same = await opsctl('backup', 'now', '--host', 'rb1', '--set', 'conf', '--json');
    assert.equal(same.code, 0, same.stderr);
    const sv = JSON.parse(same.stdout) as NowView;
    assert.equal(sv.taken, false);
    assert.equal(sv.lastId, ids[0]);

    write(src, 'app.conf', 'v=2 changed\n');
    const r2 = await opsctl('backup', 'now', '--host', 'rb1', '--set', 'conf', '--json');
    assert.equal(r2.code, 0, r2.stderr);
    const v2 = JSON.parse(r2.stdout) as NowView;
    assert.deepEqual([v2.taken, v2.type, v2.parent, v2.files], [true, 'incremental', ids[0], 1]);
    ids.push(v2.id);

    const listed = await waitFor(async () => {
      const l = await opsctl('backup', 'list', '--host', 'rb1', '--set', 'conf', '--json');
      const snaps = (JSON.parse(l.stdout) as { snapshots: Array<{ id: string; type: string }> }).snapshots;
      return snaps.length >= 2 ? snaps : undefined;
    }, { timeout: 15_000, what: 'both snapshots in opsctl backup list' });
    assert.deepEqual(listed.map((s) => [s.id, s.type]), [[ids[0], 'full'], [ids[1], 'incremental']]);
  });

  it('unknown set, unknown host, set that did not start: one clear line, exit 1', async () => {
    const r = await opsctl('backup', 'now', '--host', 'rb1', '--set', 'nope');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim(), 'opsctl: OPS_ERR_BACKUP_NO_SET: host "rb1": this agent has no backup set "nope" (sets: conf, broken)');
    const v = await opsctl('backup', 'verify', '--host', 'rb1', '--set', 'nope');
    assert.equal(v.code, 1);
    assert.match(v.stderr, /OPS_ERR_BACKUP_NO_SET: host "rb1": this agent has no backup set "nope"/);
    const h = await opsctl('backup', 'restore', '--host', 'ghost', '--set', 'conf', '--to', join(tmp.path, 'x'));
    assert.equal(h.code, 1);
    assert.equal(h.stderr.trim(), 'opsctl: OPS_ERR_HOST_NOT_FOUND: no host "ghost"');
    const b = await opsctl('backup', 'now', '--host', 'rb1', '--set', 'broken');
    assert.equal(b.code, 1);
    assert.match(b.stderr, /^opsctl: OPS_ERR_BACKUP_NOT_RUNNING: host "rb1": backup set broken is not running: OPS_ERR_BACKUP_PATH: .*does-not-exist: ENOENT\n$/);
  });

  it('backup verify (with and without --read-data) passes', async () => {
    const r = await opsctl('backup', 'verify', '--host', 'rb1', '--set', 'conf', '--read-data');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /2 snapshots, 2 archives read, 4 files checked: ok/);
    const j = await opsctl('backup', 'verify', '--host', 'rb1', '--set', 'conf', '--json');
    assert.equal(j.code, 0, j.stderr);
    const v = JSON.parse(j.stdout) as { snapshots: number; archivesRead: number; problems: unknown[] };
    assert.deepEqual([v.snapshots, v.archivesRead, v.problems], [2, 0, []]);
  });

  it('backup restore --host restores into a folder on the agent: diff -r clean; --snapshot, --at and --path', async () => {
    const to = join(tmp.path, 'restored');
    const r = await opsctl('backup', 'restore', '--host', 'rb1', '--set', 'conf', '--to', to);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`restored snapshot ${ids[1]} .*: 3 files, .*checksums verified`));
    assert.equal(diffTrees(src, join(to, src)), '');

    const old = join(tmp.path, 'restored-old');
    const o = await opsctl('backup', 'restore', '--host', 'rb1', '--set', 'conf', '--snapshot', ids[0]!, '--to', old);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(readFileSync(join(old, src, 'app.conf'), 'utf8'), 'v=1\n');

    const at = join(tmp.path, 'restored-at');
    const a = await opsctl('backup', 'restore', '--host', 'rb1', '--set', 'conf', '--at', new Date().toISOString(), '--path', join(src, 'sites', 'deep'), '--to', at, '--json');
    assert.equal(a.code, 0, a.stderr);
    assert.equal((JSON.parse(a.stdout) as { snapshot: string; files: number }).snapshot, ids[1]);
    assert.equal(readFileSync(join(at, src, 'sites', 'deep', 'b.conf'), 'utf8'), 'server b;\n');
    assert.equal(existsSync(join(at, src, 'app.conf')), false, 'only the asked path');
  });

  it('a relative --to or a --path with ../ is refused with a clear message; the agent refuses them too', async () => {
    const rel = await opsctl('backup', 'restore', '--host', 'rb1', '--set', 'conf', '--to', 'restored-rel');
    assert.equal(rel.code, 2);
    assert.match(rel.stderr, /--to must be an absolute folder on the agent's host, got "restored-rel"/);
    // Past opsctl: the agent checks the request itself.
    const res = await fetch(`${ctl.url}/api/v1/hosts/rb1/backups/conf/restore`, { method: 'POST', body: JSON.stringify({ to: 'restored-rel', actor: 'tester' }) });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: { code: 'OPS_ERR_USAGE', message: `host "rb1": --to must be an absolute folder on the agent's host, got "restored-rel"` } });

    const esc = join(tmp.path, 'restored-esc');
    const p = await opsctl('backup', 'restore', '--host', 'rb1', '--set', 'conf', '--to', esc, '--path', `${src}/../../etc`);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /^opsctl: OPS_ERR_BACKUP_UNSAFE_PATH: host "rb1": --path: refusing entry ".*\/\.\.\/\.\.\/etc": it escapes the restore folder\n$/);
    assert.equal(existsSync(esc), false, 'nothing written');
  });

  it('every action is one audit row with actor and outcome', async () => {
    const rows = await api<AuditView[]>(ctl.url, '/api/v1/audit?limit=100');
    const backup = rows.filter((r) => r.action.startsWith('backup.')).reverse();
    assert.ok(backup.every((r) => r.actor === 'tester'), JSON.stringify(backup));
    assert.deepEqual(
      backup.filter((r) => r.subject === 'rb1/conf').map((r) => [r.action, r.details.ok]),
      [['backup.now', true], ['backup.now', true], ['backup.now', true], ['backup.verify', true], ['backup.verify', true], ['backup.restore', true], ['backup.restore', true], ['backup.restore', true], ['backup.restore', false], ['backup.restore', false]],
    );
    assert.ok(backup.some((r) => r.subject === 'rb1/nope' && r.details.code === 'OPS_ERR_BACKUP_NO_SET'));
  });

  it('verify fails (exit 1) naming the archive after one is corrupted, then deleted; restore refuses the corrupt chain', async () => {
    const file = archive(ids[1]!);
    const bytes = readFileSync(file);
    bytes[bytes.length - 12] = bytes[bytes.length - 12]! ^ 0xff;
    writeFileSync(file, bytes);
    const c = await opsctl('backup', 'verify', '--host', 'rb1', '--set', 'conf', '--read-data');
    assert.equal(c.code, 1, c.stdout);
    assert.match(c.stdout, new RegExp(`PROBLEM ${ids[1]}: archive snapshots/${ids[1]}\\.tar\\.gz`));
    assert.match(c.stdout, /2 snapshots, [12] archives read, [34] files checked: [1-9] problem\(s\)/);

    const r = await opsctl('backup', 'restore', '--host', 'rb1', '--set', 'conf', '--to', join(tmp.path, 'restored-bad'));
    assert.equal(r.code, 1);
    // What the damaged archive held is reported per path; what the others held is restored.
    assert.match(r.stderr, new RegExp(`NOT RESTORED .*: OPS_ERR_BACKUP_(CHECKSUM|ARCHIVE) archive ${ids[1]}`));
    assert.match(r.stdout, /restored snapshot .* [1-9]\d* not restored/);

    rmSync(file);
    const d = await opsctl('backup', 'verify', '--host', 'rb1', '--set', 'conf');
    assert.equal(d.code, 1, d.stdout);
    assert.match(d.stdout, new RegExp(`PROBLEM ${ids[1]}: archive snapshots/${ids[1]}\\.tar\\.gz is missing`));
    assert.match(d.stdout, /2 snapshots, 0 archives read, 0 files checked: 1 problem\(s\)/);
  });
});
