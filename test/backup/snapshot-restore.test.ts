import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { BackupSet } from '../../agent/backup/backup-set.js';
import { encodeHeader, padding, TAR_END } from '../../agent/backup/tar.js';
import { MANIFEST_FORMAT, type Manifest } from '../../agent/backup/types.js';
import { createRootLogger } from '../../shared/logger.js';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';
import { RecordingSink } from '../health/recording-sink.js';
import { diffTrees, setConfig, sh, write } from './helpers.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });

describe('snapshots to a dir target and restore (every snapshot of the chain, diff -r)', () => {
  const tmp = tempDir('opsfleet-backup-');
  const src = join(tmp.path, 'src');
  const conf = join(src, 'conf');
  const data = join(src, 'data');
  const targetDir = join(tmp.path, 'target');
  const configFile = join(tmp.path, 'agent.yaml');
  const sink = new RecordingSink();
  let set: BackupSet;
  const taken: Array<{ id: string; expected: string; time: string }> = [];

  before(async () => {
    mkdirSync(conf, { recursive: true });
    mkdirSync(data, { recursive: true });
    writeFileSync(
      configFile,
      [
        'host: { id: h1 }',
        'nats: { servers: ["nats://127.0.0.1:1"] }',
        `state_dir: ${join(tmp.path, 'state')}`,
        'backups:',
        '  - name: s1',
        `    paths: ["${conf}", "${data}"]`,
        '    exclude: ["*.swp", "**/cache/**"]',
        `    target: { type: dir, path: "${targetDir}" }`,
      ].join('\n'),
    );
    set = new BackupSet({
      cfg: setConfig({ name: 's1', paths: [conf, data], exclude: ['*.swp', '**/cache/**'], debounce: '1h', max_delay: '1h', full_after: 3, target: { type: 'dir', path: targetDir } }),
      hostId: 'h1',
      stateDir: join(tmp.path, 'state'),
      sink,
      logger,
    });
    await set.start();
  });
  after(async () => {
    await set?.stop();
    tmp.cleanup();
  });

  /** Snapshot now and keep a copy of the tree as it is (the expected restore result). */
  async function snap(n: number): Promise<Manifest> {
    const m = await set.snapshotNow();
    assert.ok(m, `burst ${n} produced a snapshot`);
    const expected = join(tmp.path, 'expected', String(n));
    mkdirSync(expected, { recursive: true });
    sh('cp', ['-a', src, expected]);
    // The excluded names are not backed up: drop them from the expectation.
    sh('find', [expected, '(', '-name', '*.swp', '-o', '-name', 'cache', ')', '-prune', '-exec', 'rm', '-rf', '{}', '+']);
    taken.push({ id: m.id, expected: join(expected, 'src'), time: m.time });
    return m;
  }

  it('takes a full, then incrementals holding only the changes and the deletions', async () => {
    write(conf, 'nginx.conf', 'worker_processes 4;\n');
    write(conf, 'sites/a.conf', 'server { listen 80; }\n');
    write(conf, 'sites/b.conf', 'server { listen 81; }\n');
    write(conf, 'x.swp', 'swap');
    write(conf, 'cache/blob', 'cached');
    write(data, 'deep/er/file.bin', Buffer.alloc(300_000, 7));
    write(data, `long/${'n'.repeat(120)}/${'f'.repeat(150)}.txt`, 'a long path (pax header)\n');
    write(data, 'empty', '');
    symlinkSync('../conf/nginx.conf', join(data, 'link-to-nginx'));
    const full = await snap(0);
    assert.equal(full.type, 'full');
    assert.equal(full.parent, null);
    assert.ok(!full.entries.some((e) => e.path.endsWith('.swp') || e.path.includes('/cache')), 'excludes honoured');
    const link = full.entries.find((e) => e.path.endsWith('link-to-nginx'));
    assert.equal(link?.type, 'symlink');
    assert.equal(link?.link, '../conf/nginx.conf', 'symlink recorded as a link, not followed');

    // burst 1: modify, create, delete
    write(conf, 'nginx.conf', 'worker_processes 8; # more\n');
    write(conf, 'sites/c.conf', 'server { listen 82; }\n');
    unlinkSync(join(conf, 'sites/b.conf'));
    const m1 = await snap(1);
    assert.equal(m1.type, 'incremental');
    assert.equal(m1.parent, full.id);
    const files1 = m1.entries.filter((e) => e.type === 'file').map((e) => e.path).sort();
    assert.deepEqual(files1, [`${conf.slice(1)}/nginx.conf`, `${conf.slice(1)}/sites/c.conf`], 'only the changed files are archived');
    assert.deepEqual(m1.deleted, [`${conf.slice(1)}/sites/b.conf`]);

    // burst 2: rename a file and a whole folder, replace a file by a folder
    renameSync(join(conf, 'sites/a.conf'), join(conf, 'sites/a-renamed.conf'));
    renameSync(join(data, 'deep'), join(data, 'moved'));
    unlinkSync(join(data, 'empty'));
    write(data, 'empty/now-a-dir.txt', 'x');
    const m2 = await snap(2);
    assert.equal(m2.parent, m1.id);
    assert.ok(m2.deleted.includes(`${data.slice(1)}/deep`));

    // burst 3: many small changes, a symlink retargeted, a file deleted then recreated
    for (let i = 0; i < 20; i++) write(data, `many/f${i}.txt`, `file ${i}\n`.repeat(i + 1));
    unlinkSync(join(data, 'link-to-nginx'));
    symlinkSync('moved/er/file.bin', join(data, 'link-to-nginx'));
    rmSync(join(conf, 'sites/c.conf'));
    write(conf, 'sites/c.conf', 'server { listen 8282; } # recreated\n');
    await snap(3);

    // burst 4: full_after: 3 → a new full
    write(data, 'many/f1.txt', 'changed again\n');
    rmSync(join(data, 'long'), { recursive: true });
    const m4 = await snap(4);
    assert.equal(m4.type, 'full', 'full_after 3 incrementals starts a new chain');

    // burst 5: nothing changed → no snapshot
    assert.equal(await set.snapshotNow(), null, 'no changes, no snapshot');
    write(conf, 'nginx.conf', 'final\n');
    await snap(5);

    const events = sink.events.filter((e) => e.kind === 'backup' && e.body?.event === 'snapshot').map((e) => e.body!);
    assert.equal(events.length, 6);
    assert.deepEqual(
      events.map((e) => e.id),
      taken.map((t) => t.id),
    );
    for (const e of events) assert.ok(typeof e.files === 'number' && typeof e.bytes === 'number' && typeof e.duration_ms === 'number' && e.set === 's1');
  });

  it('restore --list --json lists every snapshot oldest first', async () => {
    const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 's1', '--list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as Array<{ id: string; time: string; type: string; files: number; bytes: number }>;
    assert.deepEqual(
      list.map((s) => s.id),
      taken.map((t) => t.id),
    );
    assert.deepEqual(
      list.map((s) => s.type),
      ['full', 'incremental', 'incremental', 'incremental', 'full', 'incremental'],
    );
    for (const s of list) assert.ok(s.time && Number.isInteger(s.files) && Number.isInteger(s.bytes));
  });

  it('restore --snapshot ID of every snapshot equals the tree at that time (diff -r)', async () => {
    for (const [i, t] of taken.entries()) {
      const out = join(tmp.path, 'restored', String(i));
      const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 's1', '--snapshot', t.id, '--to', out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /checksums verified/);
      assert.equal(diffTrees(t.expected, join(out, src.slice(1))), '', `snapshot ${i} (${t.id}) restores exactly`);
    }
  });

  it('restore --at TIME picks the newest snapshot at or before it; --path restores a subtree', async () => {
    const t2 = taken[2]!;
    const out = join(tmp.path, 'at');
    const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 's1', '--at', new Date(Date.parse(taken[3]!.time) - 1).toISOString(), '--to', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(t2.id));
    assert.equal(diffTrees(t2.expected, join(out, src.slice(1))), '');

    const sub = join(tmp.path, 'sub');
    const r2 = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 's1', '--path', join(conf, 'sites'), '--to', sub]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(diffTrees(join(taken[5]!.expected, 'conf', 'sites'), join(sub, conf.slice(1), 'sites')), '');
    assert.ok(!existsSync(join(sub, conf.slice(1), 'nginx.conf')));

    const bad = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 's1', '--at', 'yesterday-ish', '--to', sub]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--at: expected a time/);
  });

  it('a person can restore with tar alone, following docs/backup.md', () => {
    // The newest chain: the full of burst 4, then burst 5. Extract in order, apply deletions.
    const out = join(tmp.path, 'by-tar');
    mkdirSync(out);
    const dir = join(targetDir, 'h1', 's1', 'snapshots');
    for (const t of taken.slice(4)) {
      sh('tar', ['-xzf', join(dir, `${t.id}.tar.gz`), '-C', out]);
      const m = JSON.parse(readFileSync(join(dir, `${t.id}.json`), 'utf8')) as Manifest;
      for (const d of m.deleted) rmSync(join(out, d), { recursive: true, force: true });
    }
    assert.equal(diffTrees(taken[5]!.expected, join(out, src.slice(1))), '');
  });
  it('restore onto a new host: --host reads the old host\'s snapshots with only the target settings', async () => {
    const other = join(tmp.path, 'new-host.yaml');
    writeFileSync(other, readFileSync(configFile, 'utf8').replace('host: { id: h1 }', 'host: { id: brand-new }'));
    const own = await runCommand('opsfleet-agent', ['restore', '--config', other, '--set', 's1', '--list']);
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, /no snapshots on dir/);
    const out = join(tmp.path, 'on-new-host');
    const r = await runCommand('opsfleet-agent', ['restore', '--config', other, '--set', 's1', '--host', 'h1', '--to', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(diffTrees(taken[5]!.expected, join(out, src.slice(1))), '');
  });

  it('verify checks manifests, chains and archives; --read-data every checksum (run last: it damages the target)', async () => {
    const ok = await runCommand('opsfleet-agent', ['verify', '--config', configFile, '--set', 's1', '--read-data', '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const r = JSON.parse(ok.stdout) as { snapshots: number; archivesRead: number; filesChecked: number; problems: unknown[] };
    assert.equal(r.snapshots, 6);
    assert.equal(r.archivesRead, 6);
    assert.ok(r.filesChecked > 10);
    const dir = join(targetDir, 'h1', 's1', 'snapshots');
    // Flip one byte of an archive, delete another.
    const victim = join(dir, `${taken[1]!.id}.tar.gz`);
    const buf = readFileSync(victim);
    buf[buf.length - 20] ^= 0xff;
    writeFileSync(victim, buf);
    rmSync(join(dir, `${taken[3]!.id}.tar.gz`));
    const quick = await runCommand('opsfleet-agent', ['verify', '--config', configFile, '--set', 's1']);
    assert.equal(quick.code, 1);
    assert.match(quick.stdout, new RegExp(`PROBLEM ${taken[3]!.id}: archive snapshots/${taken[3]!.id}.tar.gz is missing`));
    const deep = await runCommand('opsfleet-agent', ['verify', '--config', configFile, '--set', 's1', '--read-data']);
    assert.equal(deep.code, 1);
    assert.match(deep.stdout, new RegExp(`PROBLEM ${taken[1]!.id}: `));
  });
});

describe('restore refuses entries that escape --to', () => {
  const tmp = tempDir('opsfleet-backup-evil-');
  const targetDir = join(tmp.path, 'target');
  const configFile = join(tmp.path, 'agent.yaml');
  const snapDir = join(targetDir, 'h1', 'evil', 'snapshots');
  const outside = join(tmp.path, 'outside');
  before(() => {
    mkdirSync(snapDir, { recursive: true });
    mkdirSync(outside);
    writeFileSync(configFile, ['host: { id: h1 }', 'nats: { servers: ["nats://127.0.0.1:1"] }', 'backups:', '  - name: evil', '    paths: ["/nonexistent-evil"]', `    target: { type: dir, path: "${targetDir}" }`].join('\n'));
  });
  after(() => tmp.cleanup());

  /** Plants a snapshot whose archive holds `entries` and whose manifest lists `listed`. */
  function plant(id: string, entries: Array<{ path: string; type: 'file' | 'symlink' | 'dir'; body?: string; link?: string }>, listed?: Array<{ path: string; type: 'file' | 'symlink' | 'dir'; body?: string; link?: string }>): void {
    const parts: Buffer[] = [];
    for (const e of entries) {
      const body = Buffer.from(e.body ?? '');
      parts.push(encodeHeader({ path: e.path, type: e.type, size: body.length, mode: 0o644, mtimeMs: Date.now(), ...(e.link ? { linkname: e.link } : {}) }));
      if (e.type === 'file') parts.push(body, Buffer.alloc(padding(body.length)));
    }
    parts.push(TAR_END);
    const gz = gzipSync(Buffer.concat(parts));
    writeFileSync(join(snapDir, `${id}.tar.gz`), gz);
    const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
    const m: Manifest = {
      format: MANIFEST_FORMAT,
      id,
      set: 'evil',
      host: 'h1',
      type: 'full',
      parent: null,
      time: new Date().toISOString(),
      time_ms: Date.now(),
      roots: ['/x'],
      archive: { name: `${id}.tar.gz`, size: gz.length, sha256: sha(gz) },
      entries: (listed ?? entries).map((e) => ({ path: e.path, type: e.type, size: Buffer.byteLength(e.body ?? ''), mtime_ms: Date.now(), mode: 0o644, ...(e.type === 'file' ? { sha256: sha(e.body ?? '') } : {}), ...(e.link ? { link: e.link } : {}) })),
      deleted: [],
      files: entries.length,
      bytes: 0,
      duration_ms: 0,
    };
    writeFileSync(join(snapDir, `${id}.json`), JSON.stringify(m));
  }

  async function restoreId(id: string): Promise<{ code: number | null; stderr: string; out: string }> {
    const out = join(tmp.path, `out-${id}`);
    const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 'evil', '--snapshot', id, '--to', out]);
    return { code: r.code, stderr: r.stderr, out };
  }

  it('refuses ../ in the manifest', async () => {
    plant('20260101T000000000Z-0001', [{ path: 'ok/../../escaped.txt', type: 'file', body: 'pwned' }]);
    const r = await restoreId('20260101T000000000Z-0001');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPS_ERR_BACKUP_UNSAFE_PATH/);
    assert.ok(!existsSync(join(tmp.path, 'escaped.txt')));
  });

  it('refuses an absolute path', async () => {
    plant('20260101T000000000Z-0002', [{ path: `${outside}/abs.txt`, type: 'file', body: 'pwned' }]);
    const r = await restoreId('20260101T000000000Z-0002');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPS_ERR_BACKUP_UNSAFE_PATH/);
    assert.ok(!existsSync(join(outside, 'abs.txt')));
  });

  it('refuses an archive entry with ../ that the manifest does not list', async () => {
    plant('20260101T000000000Z-0003', [{ path: 'fine.txt', type: 'file', body: 'ok' }, { path: '../sneaky.txt', type: 'file', body: 'pwned' }], [{ path: 'fine.txt', type: 'file', body: 'ok' }]);
    const r = await restoreId('20260101T000000000Z-0003');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPS_ERR_BACKUP_UNSAFE_PATH/);
    assert.ok(!existsSync(join(tmp.path, 'sneaky.txt')));
  });

  it('refuses to write through a symlink (link to outside, then a file under it)', async () => {
    plant('20260101T000000000Z-0004', [
      { path: 'a', type: 'dir' },
      { path: 'a/link', type: 'symlink', link: outside },
      { path: 'a/link/planted.txt', type: 'file', body: 'pwned' },
    ]);
    const r = await restoreId('20260101T000000000Z-0004');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPS_ERR_BACKUP_UNSAFE_PATH.*symlink/);
    assert.ok(!existsSync(join(outside, 'planted.txt')));
  });

  it('detects content that does not match the manifest checksum', async () => {
    plant('20260101T000000000Z-0005', [{ path: 'f.txt', type: 'file', body: 'tampered' }], [{ path: 'f.txt', type: 'file', body: 'original' }]);
    const r = await restoreId('20260101T000000000Z-0005');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPS_ERR_BACKUP_CHECKSUM/);
    assert.ok(!existsSync(join(r.out, 'f.txt')), 'a file failing its checksum is not left in place');
  });
});
