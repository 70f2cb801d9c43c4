import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { write } from './helpers.js';

interface SnapView {
  host: string;
  set: string;
  id: string;
  type: string;
  files: number;
  bytes: number;
  durationMs: number;
  pruned: string | null;
}

describe('backups through the fleet: agent → NATS → controller catalog → opsctl', () => {
  const tmp = tempDir('opsfleet-backup-fleet-');
  const src = join(tmp.path, 'src');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc;

  before(async () => {
    mkdirSync(src);
    write(src, 'app.conf', 'v=1\n');
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: tmp.path });
    agent = await startAgent({
      natsUrl: nats.url,
      dir: tmp.path,
      id: 'bk1',
      rpc: false,
      extraYaml: [
        'backups:',
        '  - name: conf',
        `    paths: ["${src}"]`,
        '    debounce: 300ms',
        `    target: { type: dir, path: "${join(tmp.path, 'target')}" }`,
        '  - name: broken',
        `    paths: ["${join(tmp.path, 'does-not-exist')}"]`,
        `    target: { type: dir, path: "${join(tmp.path, 'target')}" }`,
      ].join('\n'),
    });
  });
  after(async () => {
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    tmp.cleanup();
  });

  it('a set with an unreadable path fails alone: clear error, BackupFailed, the agent keeps running', async () => {
    const line = await agent.child.waitForLog((l) => String(l.msg).startsWith('backup set failed to start'), 5000);
    assert.equal(line.code, 'OPS_ERR_BACKUP_PATH');
    assert.match(String(line.err), /cannot read watched path .*does-not-exist: ENOENT/);
    const alerts = await waitFor(async () => {
      const a = await api<Array<{ labels: Record<string, string> }>>(ctl.url, '/api/v1/alerts');
      return a.find((x) => x.labels.alertname === 'BackupFailed' && x.labels.set === 'broken' && x.labels.host === 'bk1');
    }, { timeout: 15_000, what: 'BackupFailed alert at the controller' });
    assert.ok(alerts);
    const hosts = await api<Array<{ id: string; status: string }>>(ctl.url, '/api/v1/hosts');
    assert.equal(hosts.find((h) => h.id === 'bk1')?.status, 'online', 'heartbeats keep flowing');
  });

  it('snapshots reach the catalog; opsctl backup list shows them', async () => {
    await waitFor(async () => (await api<SnapView[]>(ctl.url, '/api/v1/backups?host=bk1&set=conf')).length >= 1, { timeout: 15_000, what: 'full snapshot in the catalog' });
    write(src, 'app.conf', 'v=2 changed\n');
    const snaps = await waitFor(async () => {
      const s = await api<SnapView[]>(ctl.url, '/api/v1/backups?host=bk1&set=conf');
      return s.length >= 2 ? s : undefined;
    }, { timeout: 15_000, what: 'incremental in the catalog' });
    assert.deepEqual(snaps.map((s) => s.type), ['full', 'incremental']);
    assert.equal(snaps[1]!.files, 1);

    const env = { OPSFLEET_CONTROLLER: ctl.url };
    const json = await runCommand('opsctl', ['backup', 'list', '--host', 'bk1', '--set', 'conf', '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as { snapshots: SnapView[] }).snapshots.map((s) => s.id), snaps.map((s) => s.id));
    // --json carries what the table shows, the failing set included.
    const all = JSON.parse((await runCommand('opsctl', ['backup', 'list', '--json'], env)).stdout) as { sets: Array<{ host: string; set: string; status: string }> };
    assert.ok(all.sets.some((s) => s.host === 'bk1' && s.set === 'broken' && s.status === 'failed'), JSON.stringify(all.sets));
    const table = await runCommand('opsctl', ['backup', 'list'], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(snaps[1]!.id));
    assert.match(table.stdout, /FAILING bk1\/broken: OPS_ERR_BACKUP_PATH/);
  });
});

describe('backup config errors name FILE:LINE:COL', () => {
  const tmp = tempDir('opsfleet-backup-config-');
  after(() => tmp.cleanup());

  async function validate(yaml: string): Promise<{ code: number | null; stderr: string; file: string }> {
    const file = join(tmp.path, `c${Math.random().toString(16).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    const r = await runCommand('opsfleet-agent', ['validate', file]);
    return { code: r.code, stderr: r.stderr, file };
  }

  it('missing bucket, bad target type, relative path, max_delay < debounce', async () => {
    const r = await validate(
      [
        'nats: { servers: ["nats://127.0.0.1:4222"] }',
        'backups:',
        '  - name: a',
        '    paths: ["/etc"]',
        '    target:',
        '      type: s3',
        '      region: us-east-1',
        '  - name: b',
        '    paths: ["relative/dir"]',
        '    debounce: 10s',
        '    max_delay: 1s',
        '    target: { type: ftp, path: /x }',
      ].join('\n'),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${r.file}:6:7 backups\\[0\\]\\.target\\.bucket: required`));
    assert.match(r.stderr, new RegExp(`${r.file}:9:13 backups\\[1\\]\\.paths\\[0\\]: watched paths must be absolute`));
    assert.match(r.stderr, new RegExp(`${r.file}:12:21 backups\\[1\\]\\.target\\.type: target type must be one of s3, sftp, dir`));
    const r2 = await validate(['nats: { servers: ["nats://127.0.0.1:4222"] }', 'backups:', '  - name: a', '    paths: ["/etc"]', '    debounce: 10s', '    max_delay: 1s', '    target: { type: dir, path: /x }'].join('\n'));
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, new RegExp(`${r2.file}:6:16 backups\\[0\\]\\.max_delay: max_delay must be at least debounce`));
  });
});
