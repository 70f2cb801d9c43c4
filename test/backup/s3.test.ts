import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BackupSet } from '../../agent/backup/backup-set.js';
import type { Manifest } from '../../agent/backup/types.js';
import { Alert_State } from '../../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../../shared/logger.js';
import { runCommand, startAgent } from '../helpers/daemons.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingSink } from '../health/recording-sink.js';
import { diffTrees, setConfig, sh, write } from './helpers.js';
import { S3Server } from './s3-server.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });

describe('S3 target against a real s3rver on loopback', () => {
  const tmp = tempDir('opsfleet-s3-');
  const src = join(tmp.path, 'src');
  const configFile = join(tmp.path, 'agent.yaml');
  const sink = new RecordingSink();
  let s3: S3Server;
  let set: BackupSet;
  let client: S3Client;
  const taken: Array<{ id: string; expected: string }> = [];

  before(async () => {
    mkdirSync(src, { recursive: true });
    s3 = await S3Server.start(join(tmp.path, 's3data'));
    const target = { type: 's3', endpoint: s3.endpoint, bucket: 'backups', region: 'us-east-1', force_path_style: true, access_key_id: 'S3RVER', secret_access_key: 'S3RVER', part_size_mb: 5 };
    writeFileSync(
      configFile,
      [
        'host: { id: h3 }',
        'nats: { servers: ["nats://127.0.0.1:1"] }',
        'backups:',
        '  - name: s3set',
        `    paths: ["${src}"]`,
        '    target:',
        '      type: s3',
        `      endpoint: "${s3.endpoint}"`,
        '      bucket: backups',
        '      force_path_style: true',
        '      access_key_id: "${env:TEST_S3_KEY}"',
        '      secret_access_key: "${env:TEST_S3_SECRET}"',
      ].join('\n'),
    );
    set = new BackupSet({
      cfg: setConfig({ name: 's3set', paths: [src], debounce: '1h', max_delay: '1h', target, retry: { attempts: 30, initial: '100ms', max: '500ms' } }),
      hostId: 'h3',
      stateDir: join(tmp.path, 'state'),
      sink,
      logger,
    });
    await set.start();
    client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  });
  after(async () => {
    await set?.stop();
    client?.destroy();
    await s3?.stop();
    tmp.cleanup();
  });

  async function snap(n: number): Promise<Manifest> {
    const m = await set.snapshotNow();
    assert.ok(m, `burst ${n} produced a snapshot`);
    const expected = join(tmp.path, 'expected', String(n));
    mkdirSync(expected, { recursive: true });
    sh('cp', ['-a', src, expected]);
    taken.push({ id: m.id, expected: join(expected, 'src') });
    return m;
  }

  async function keys(): Promise<string[]> {
    const r = await client.send(new ListObjectsV2Command({ Bucket: 'backups' }));
    return (r.Contents ?? []).map((o) => o.Key!).sort();
  }

  it('full + incrementals across bursts, a multipart archive, no temporary keys left', async () => {
    write(src, 'etc/app.conf', 'a=1\n');
    write(src, 'etc/more/b.conf', 'b=2\n');
    // 12 MB of random bytes does not compress: the archive goes up in 5 MB parts.
    write(src, 'big/blob.bin', randomBytes(12 * 1024 * 1024));
    const full = await snap(0);
    assert.ok(full.archive.size > 10 * 1024 * 1024);
    write(src, 'etc/app.conf', 'a=2 changed\n');
    rmSync(join(src, 'etc/more'), { recursive: true });
    write(src, 'new/c.conf', 'c\n');
    await snap(1);
    renameSync(join(src, 'new'), join(src, 'renamed'));
    write(src, 'etc/app.conf', 'a=3\n');
    await snap(2);
    const k = await keys();
    assert.ok(!k.some((x) => x.includes('.tmp/')), `no temporary keys: ${k.join(' ')}`);
    for (const t of taken) {
      assert.ok(k.includes(`h3/s3set/snapshots/${t.id}.tar.gz`));
      assert.ok(k.includes(`h3/s3set/snapshots/${t.id}.json`));
    }
  });

  it('restore of every snapshot from S3 equals the tree at that time (diff -r)', async () => {
    const env = { TEST_S3_KEY: 'S3RVER', TEST_S3_SECRET: 'S3RVER' };
    const list = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 's3set', '--list', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      (JSON.parse(list.stdout) as Array<{ id: string }>).map((s) => s.id),
      taken.map((t) => t.id),
    );
    for (const [i, t] of taken.entries()) {
      const out = join(tmp.path, 'restored', String(i));
      const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 's3set', '--snapshot', t.id, '--to', out], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(diffTrees(t.expected, join(out, src.slice(1))), '', `snapshot ${i}`);
    }
  });

  it('target down during an upload: retries, then succeeds when it returns; nothing partial is listed', async () => {
    write(src, 'during-outage.txt', 'written while S3 is down\n');
    await s3.kill();
    const retriesBefore = set.stats.retries;
    const pending = set.snapshotNow();
    await waitFor(() => set.stats.retries >= retriesBefore + 3, { timeout: 15_000, what: 'upload retries while s3 is down' });
    await s3.restart();
    const m = await pending;
    assert.ok(m, 'the snapshot succeeded once the target was back');
    const k = await keys();
    const archives = k.filter((x) => x.endsWith('.tar.gz')).map((x) => x.replace(/\.tar\.gz$/, ''));
    for (const a of archives) assert.ok(k.includes(`${a}.json`), `archive ${a} has its manifest`);
    assert.ok(!k.some((x) => x.includes('.tmp/')));
    const out = join(tmp.path, 'after-outage');
    const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 's3set', '--to', out], { TEST_S3_KEY: 'S3RVER', TEST_S3_SECRET: 'S3RVER' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(diffTrees(src, join(out, src.slice(1))), '');
  });
});

describe('exhausted retries raise BackupFailed, keep the changes pending, and success resolves it', () => {
  const tmp = tempDir('opsfleet-s3-fail-');
  const src = join(tmp.path, 'src');
  const sink = new RecordingSink();
  let s3: S3Server;
  let set: BackupSet;
  before(async () => {
    mkdirSync(src, { recursive: true });
    write(src, 'a.txt', 'a\n');
    s3 = await S3Server.start(join(tmp.path, 's3data'));
    set = new BackupSet({
      cfg: setConfig({
        name: 'failing',
        paths: [src],
        debounce: '1h',
        max_delay: '1h',
        target: { type: 's3', endpoint: s3.endpoint, bucket: 'backups', force_path_style: true, access_key_id: 'S3RVER', secret_access_key: 'S3RVER' },
        retry: { attempts: 3, initial: '50ms', max: '100ms' },
      }),
      hostId: 'h4',
      stateDir: join(tmp.path, 'state'),
      sink,
      logger,
    });
    await set.start();
  });
  after(async () => {
    await set?.stop();
    await s3?.stop();
    tmp.cleanup();
  });

  it('fires, then resolves', async () => {
    assert.ok(await set.snapshotNow());
    await s3.kill();
    write(src, 'b.txt', 'made while the target is down\n');
    assert.equal(await set.snapshotNow(), null, 'no snapshot while the target is down');
    const firing = sink.alerts('BackupFailed');
    assert.equal(firing.length, 1);
    assert.equal(firing[0]!.state, Alert_State.STATE_FIRING);
    assert.equal(firing[0]!.labels.set, 'failing');
    const failed = sink.events.filter((e) => e.kind === 'backup' && e.body?.event === 'failed');
    assert.equal(failed.length, 1);
    assert.equal(set.status().state, 'degraded');

    await s3.restart();
    const m = await set.snapshotNow();
    assert.ok(m, 'the pending change is backed up once the target is back');
    assert.ok(m.entries.some((e) => e.path.endsWith('b.txt')), 'the change made during the outage is in it');
    const alerts = sink.alerts('BackupFailed');
    assert.equal(alerts.length, 2);
    assert.equal(alerts[1]!.state, Alert_State.STATE_RESOLVED);
    assert.equal(set.status().state, 'running');
  });
});

describe('agent SIGKILLed mid-upload (S3 down, retrying) and restarted', () => {
  const tmp = tempDir('opsfleet-s3-kill-');
  const src = join(tmp.path, 'src');
  const stateDir = join(tmp.path, 'state');
  let s3: S3Server;
  after(async () => {
    await s3?.stop();
    tmp.cleanup();
  });

  it('the pending changes are backed up after the restart; nothing partial is listed', async () => {
    mkdirSync(src, { recursive: true });
    write(src, 'a.txt', 'a\n');
    s3 = await S3Server.start(join(tmp.path, 's3data'));
    const natsUrl = `nats://127.0.0.1:${await freePort()}`;
    const yaml = [
      'backups:',
      '  - name: kill',
      `    paths: ["${src}"]`,
      '    debounce: 200ms',
      `    target: { type: s3, endpoint: "${s3.endpoint}", bucket: backups, force_path_style: true, access_key_id: S3RVER, secret_access_key: S3RVER }`,
      '    retry: { attempts: 100, initial: 100ms, max: 300ms }',
    ].join('\n');
    const a1 = await startAgent({ natsUrl, dir: tmp.path, id: 'kill1', stateDir, rpc: false, extraYaml: yaml });
    try {
      await a1.child.waitForLog((l) => l.msg === 'snapshot stored', 15_000, 'first full snapshot');
      await s3.kill();
      write(src, 'b/during.txt', 'written while the upload fails\n');
      write(src, 'a.txt', 'a changed\n');
      await a1.child.waitForLog((l) => l.msg === 'target call failed; retrying', 15_000, 'upload retrying');
      a1.child.kill('SIGKILL');
      await a1.child.exited;
    } finally {
      await a1.child.stop();
    }
    await s3.restart();
    const a2 = await startAgent({ natsUrl, dir: tmp.path, id: 'kill1', stateDir, rpc: false, extraYaml: yaml });
    try {
      await a2.child.waitForLog((l) => l.msg === 'snapshot stored', 20_000, 'snapshot after the restart');
    } finally {
      await a2.child.stop();
    }
    const list = await runCommand('opsfleet-agent', ['restore', '--config', a2.configFile, '--set', 'kill', '--list', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const ids = (JSON.parse(list.stdout) as Array<{ id: string }>).map((s) => s.id);
    assert.ok(ids.length >= 2);
    for (const id of ids) {
      const r = await runCommand('opsfleet-agent', ['restore', '--config', a2.configFile, '--set', 'kill', '--snapshot', id, '--to', join(tmp.path, `r-${id}`)]);
      assert.equal(r.code, 0, `every listed snapshot restores: ${r.stderr}`);
    }
    assert.equal(diffTrees(src, join(tmp.path, `r-${ids.at(-1)!}`, src.slice(1))), '');
  });
});
