import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackupSet } from '../../agent/backup/backup-set.js';
import { listSnapshots } from '../../agent/backup/catalog.js';
import { restoreSnapshot } from '../../agent/backup/restore.js';
import { SftpTarget } from '../../shared/backup/targets/sftp.js';
import type { Manifest } from '../../agent/backup/types.js';
import { createRootLogger } from '../../shared/logger.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingSink } from '../health/recording-sink.js';
import { diffTrees, setConfig, sh, write } from './helpers.js';
import { Sshd } from './sshd.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });

describe('SFTP target against a real sshd on loopback', () => {
  const tmp = tempDir('opsfleet-sftp-');
  const src = join(tmp.path, 'src');
  const remote = join(tmp.path, 'remote');
  let sshd: Sshd;
  let set: BackupSet;
  let targetCfg: Record<string, unknown>;
  const taken: Array<{ id: string; expected: string }> = [];

  before(async () => {
    mkdirSync(src, { recursive: true });
    mkdirSync(remote, { recursive: true });
    sshd = await Sshd.start(join(tmp.path, 'sshd'));
    targetCfg = { type: 'sftp', host: '127.0.0.1', port: sshd.port, username: sshd.user, private_key_path: sshd.clientKey, path: remote, timeout: '5s' };
    set = new BackupSet({
      cfg: setConfig({ name: 'sf', paths: [src], debounce: '1h', max_delay: '1h', target: targetCfg, retry: { attempts: 30, initial: '100ms', max: '400ms' } }),
      hostId: 'h6',
      stateDir: join(tmp.path, 'state'),
      sink: new RecordingSink(),
      logger,
    });
    await set.start();
  });
  after(async () => {
    await set?.stop();
    await sshd?.stop();
    tmp.cleanup();
  });

  const target = () => new SftpTarget(setConfig({ name: 'sf', paths: ['/x'], target: targetCfg }).target as never, { host: 'h6', set: 'sf' });

  async function snap(n: number): Promise<Manifest> {
    const m = await set.snapshotNow();
    assert.ok(m, `burst ${n} produced a snapshot`);
    const expected = join(tmp.path, 'expected', String(n));
    mkdirSync(expected, { recursive: true });
    sh('cp', ['-a', src, expected]);
    taken.push({ id: m.id, expected: join(expected, 'src') });
    return m;
  }

  it('bursts of create/modify/delete/rename; every snapshot restores exactly (diff -r)', async () => {
    write(src, 'a/one.txt', 'one\n');
    write(src, 'a/two.txt', 'two\n');
    write(src, 'b/blob.bin', Buffer.alloc(2_000_000, 3));
    await snap(0);
    write(src, 'a/one.txt', 'one changed\n');
    rmSync(join(src, 'a/two.txt'));
    write(src, 'c/new.txt', 'new\n');
    await snap(1);
    renameSync(join(src, 'b'), join(src, 'b2'));
    await snap(2);
    const files = readdirSync(join(remote, 'h6', 'sf', 'snapshots'));
    assert.ok(!files.some((f) => f.includes('.part-')), `no temporary files left: ${files.join(' ')}`);
    assert.deepEqual(
      (await listSnapshots(target())).map((m) => m.id),
      taken.map((t) => t.id),
    );
    for (const [i, t] of taken.entries()) {
      const out = join(tmp.path, 'restored', String(i));
      await restoreSnapshot(target(), { snapshot: t.id, to: out });
      assert.equal(diffTrees(t.expected, join(out, src.slice(1))), '', `snapshot ${i}`);
    }
  });

  it('host_fingerprint pins the server key for every operation, restores included', async () => {
    // `ssh-keygen -lf` prints "256 SHA256:<base64> comment (ED25519)" for the host's public key.
    const fp = sh('ssh-keygen', ['-lf', join(sshd.dir, 'host_ed25519.pub')]).split(' ')[1]!;
    assert.match(fp, /^SHA256:/);
    const pinned = (fingerprint: string) => new SftpTarget(setConfig({ name: 'sf', paths: ['/x'], target: { ...targetCfg, host_fingerprint: fingerprint } }).target as never, { host: 'h6', set: 'sf' });
    assert.ok((await pinned(fp).list('snapshots/')).length > 0);
    const wrong = pinned('SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await assert.rejects(wrong.list('snapshots/'), 'list must refuse an unpinned server key');
    const name = (await pinned(fp).list('snapshots/')).find((f) => f.endsWith('.tar.gz'))!.replace(/^.*?snapshots\//, 'snapshots/');
    await assert.rejects(wrong.get(name), 'get (restores) must refuse an unpinned server key too');
  });

  it('sshd down during the upload: retries, then succeeds when it is back', async () => {
    write(src, 'during-outage.txt', 'x\n');
    await sshd.kill();
    const before = set.stats.retries;
    const p = set.snapshotNow();
    await waitFor(() => set.stats.retries >= before + 2, { timeout: 15_000, what: 'retries while sshd is down' });
    await sshd.restart();
    const m = await p;
    assert.ok(m);
    const out = join(tmp.path, 'after-outage');
    await restoreSnapshot(target(), { to: out });
    assert.equal(diffTrees(src, join(out, src.slice(1))), '');
    assert.ok(existsSync(join(out, src.slice(1), 'during-outage.txt')));
  });
});
