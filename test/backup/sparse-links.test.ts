import { strict as assert } from 'node:assert';
import { closeSync, ftruncateSync, linkSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackupSet } from '../../agent/backup/backup-set.js';
import type { RestoreResult } from '../../agent/backup/restore-report.js';
import type { Manifest } from '../../agent/backup/types.js';
import { createRootLogger } from '../../shared/logger.js';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';
import { RecordingSink } from '../health/recording-sink.js';
import { diffTrees, setConfig, sh, write } from './helpers.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });
const MiB = 1024 * 1024;
/** Bytes a file really occupies on disk. */
const allocated = (p: string) => statSync(p).blocks * 512;

describe('sparse files keep their holes and hard links stay links (our restore and GNU tar)', () => {
  const tmp = tempDir('opsfleet-backup-sparse-');
  const src = join(tmp.path, 'src');
  const targetDir = join(tmp.path, 'target');
  const configFile = join(tmp.path, 'agent.yaml');
  const sink = new RecordingSink();
  let set: BackupSet;
  let m: Manifest;
  const rel = (p: string) => `${src.slice(1)}/${p}`;

  before(async () => {
    mkdirSync(src, { recursive: true });
    // 100 MiB with 12 KiB of data: at the start, in the middle, and a hole at the end.
    const fd = openSync(join(src, 'disk.img'), 'w');
    writeSync(fd, Buffer.alloc(4096, 0x61), 0, 4096, 0);
    writeSync(fd, Buffer.alloc(8192, 0x62), 0, 8192, 50 * MiB + 512);
    ftruncateSync(fd, 100 * MiB);
    closeSync(fd);
    write(src, 'one.txt', 'the same file under three names\n');
    mkdirSync(join(src, 'sub'));
    linkSync(join(src, 'one.txt'), join(src, 'sub', 'two.txt'));
    linkSync(join(src, 'one.txt'), join(src, 'three.txt'));
    writeFileConfig();
    set = new BackupSet({ cfg: setConfig({ name: 'sp', paths: [src], debounce: '1h', max_delay: '1h', verify: { interval: '0s' }, target: { type: 'dir', path: targetDir } }), hostId: 'h1', stateDir: join(tmp.path, 'state'), sink, logger });
    await set.start();
    function writeFileConfig() {
      write(tmp.path, 'agent.yaml', ['host: { id: h1 }', 'nats: { servers: ["nats://127.0.0.1:1"] }', 'backups:', '  - name: sp', `    paths: ["${src}"]`, `    target: { type: dir, path: "${targetDir}" }`].join('\n'));
    }
  });
  after(async () => {
    await set?.stop();
    tmp.cleanup();
  });

  it('the archive holds only the data; the manifest records the links', async () => {
    assert.ok(allocated(join(src, 'disk.img')) < MiB, 'the test file system keeps holes');
    m = (await set.snapshotNow({ rethrow: true }))!;
    assert.ok(m.archive.size < 256 * 1024, `archive of a 100 MiB sparse file: ${m.archive.size} bytes`);
    const disk = m.entries.find((e) => e.path === rel('disk.img'));
    assert.equal(disk?.size, 100 * MiB);
    const byPath = new Map(m.entries.map((e) => [e.path, e]));
    const withContent = ['one.txt', 'sub/two.txt', 'three.txt'].filter((p) => byPath.get(rel(p))?.hardlink === undefined);
    assert.deepEqual(withContent, ['one.txt'], 'one path carries the content (the first archived)');
    assert.equal(byPath.get(rel('sub/two.txt'))?.hardlink, rel('one.txt'));
    assert.equal(byPath.get(rel('three.txt'))?.sha256, byPath.get(rel('one.txt'))?.sha256);
    assert.equal(m.files, 4);
    assert.equal(m.bytes, 100 * MiB + 32, 'bytes count the content once');
  });

  it('our restore: same content, holes kept, the three names one inode', async () => {
    const out = join(tmp.path, 'out');
    const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 'sp', '--to', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as RestoreResult;
    assert.deepEqual([rep.files, rep.hardlinks, rep.failed], [2, 2, 0]);
    const base = join(out, src.slice(1));
    assert.equal(diffTrees(src, base), '');
    assert.ok(allocated(join(base, 'disk.img')) < MiB, `restored sparse file occupies ${allocated(join(base, 'disk.img'))} bytes`);
    assert.equal(statSync(join(base, 'disk.img')).size, 100 * MiB);
    const ino = statSync(join(base, 'one.txt')).ino;
    assert.equal(statSync(join(base, 'sub/two.txt')).ino, ino);
    assert.equal(statSync(join(base, 'three.txt')).ino, ino);
    assert.equal(statSync(join(base, 'one.txt')).nlink, 3);
  });

  it('--path of only a linked name restores it with its content', async () => {
    const out = join(tmp.path, 'sub-only');
    const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 'sp', '--to', out, '--path', join(src, 'sub')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(out, src.slice(1), 'sub/two.txt'), 'utf8'), 'the same file under three names\n');
  });

  it('GNU tar extracts the same: holes and links', () => {
    const out = join(tmp.path, 'by-tar');
    mkdirSync(out);
    sh('tar', ['-xzf', join(targetDir, 'h1', 'sp', 'snapshots', `${m.id}.tar.gz`), '-C', out]);
    const base = join(out, src.slice(1));
    assert.equal(diffTrees(src, base), '');
    assert.ok(allocated(join(base, 'disk.img')) < MiB, `GNU tar: ${allocated(join(base, 'disk.img'))} bytes allocated`);
    assert.equal(statSync(join(base, 'three.txt')).ino, statSync(join(base, 'one.txt')).ino);
  });

  it('verify --read-data checks the sparse content and the links', async () => {
    const v = await runCommand('opsfleet-agent', ['verify', '--config', configFile, '--set', 'sp', '--read-data', '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal((JSON.parse(v.stdout) as { filesChecked: number }).filesChecked, 4);
  });
});
