import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync, existsSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { BackupSet } from '../../agent/backup/backup-set.js';
import type { RestoreResult } from '../../agent/backup/restore-report.js';
import { encodeHeader, padding, TAR_END } from '../../agent/backup/tar.js';
import { MANIFEST_FORMAT, type Manifest } from '../../agent/backup/types.js';
import { createRootLogger } from '../../shared/logger.js';
import { runCommand } from '../helpers/daemons.js';
import { REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { RecordingSink } from '../health/recording-sink.js';
import { diffTrees, setConfig, sh, write } from './helpers.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });

/** Every `.opsfleet-restore-*` temp file left under `dir` (names read as bytes). */
function leftovers(dir: string): string[] {
  return execFileSync('find', [dir, '-name', '*.opsfleet-restore-*'], { encoding: 'latin1' }).split('\n').filter(Boolean);
}

const bytesPath = (dir: string, ...names: Array<string | Buffer>) => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), Buffer.isBuffer(n) ? n : Buffer.from(n)])]);

describe('file names: every name Linux allows round-trips (backslash, newline, control characters, invalid UTF-8)', () => {
  const tmp = tempDir('opsfleet-backup-names-');
  const src = join(tmp.path, 'src');
  const targetDir = join(tmp.path, 'target');
  const configFile = join(tmp.path, 'agent.yaml');
  const sink = new RecordingSink();
  let set: BackupSet;
  const invalid = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]); // "f\xff\xfe.txt"
  const invalidDir = Buffer.from([0x64, 0xc3, 0x28]); // an invalid 2-byte sequence
  const longInvalid = Buffer.concat([Buffer.alloc(150, 0x61), Buffer.from([0xe9, 0x80])]); // > 100 bytes: pax

  before(async () => {
    mkdirSync(src, { recursive: true });
    write(src, 'back\\slash.txt', 'backslash\n');
    write(src, 'new\nline', 'newline\n');
    write(src, 'ctl\x01\x1b[31mred', 'control characters\n');
    write(src, 'tab\there/ü-ok.txt', 'unicode\n');
    writeFileSync(bytesPath(src, invalid), 'latin-1 name\n');
    mkdirSync(bytesPath(src, invalidDir));
    writeFileSync(bytesPath(src, invalidDir, 'inside.txt'), 'in a folder with an invalid name\n');
    writeFileSync(bytesPath(src, longInvalid), 'long invalid name\n');
    symlinkSync(bytesPath(Buffer.from('..').toString(), invalid), bytesPath(src, 'link-to-invalid'));
    writeFileSync(configFile, ['host: { id: h1 }', 'nats: { servers: ["nats://127.0.0.1:1"] }', 'backups:', '  - name: names', `    paths: ["${src}"]`, `    target: { type: dir, path: "${targetDir}" }`].join('\n'));
    set = new BackupSet({ cfg: setConfig({ name: 'names', paths: [src], debounce: '1h', max_delay: '1h', target: { type: 'dir', path: targetDir } }), hostId: 'h1', stateDir: join(tmp.path, 'state'), sink, logger });
    await set.start();
  });
  after(async () => {
    await set?.stop();
    tmp.cleanup();
  });

  it('a full and an incremental restore byte-exactly (diff -r), GNU tar extracts the same, verify --read-data passes', async () => {
    const full = await set.snapshotNow({ rethrow: true });
    assert.ok(full);
    assert.equal(full.skipped, undefined, JSON.stringify(full.skipped));
    writeFileSync(bytesPath(src, invalid), 'latin-1 name, changed\n');
    write(src, 'back\\slash.txt', 'backslash, changed\n');
    const inc = await set.snapshotNow({ rethrow: true });
    assert.equal(inc?.type, 'incremental');
    assert.equal(inc?.files, 2, 'exactly the two changed files: the index keeps names as bytes');

    const out = join(tmp.path, 'out');
    const r = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 'names', '--to', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(diffTrees(src, join(out, src.slice(1))), '');
    assert.equal(readFileSync(bytesPath(join(out, src.slice(1)), invalid), 'utf8'), 'latin-1 name, changed\n');

    const byTar = join(tmp.path, 'by-tar');
    mkdirSync(byTar);
    sh('tar', ['-xzf', join(targetDir, 'h1', 'names', 'snapshots', `${full.id}.tar.gz`), '-C', byTar]);
    sh('tar', ['-xzf', join(targetDir, 'h1', 'names', 'snapshots', `${inc!.id}.tar.gz`), '-C', byTar]);
    assert.equal(diffTrees(src, join(byTar, src.slice(1))), '');

    const v = await runCommand('opsfleet-agent', ['verify', '--config', configFile, '--set', 'names', '--read-data']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });
});

describe('restore: one bad entry never blocks the others; failures leave no temp file; --overwrite', () => {
  const tmp = tempDir('opsfleet-backup-restore2-');
  const targetDir = join(tmp.path, 'target');
  const configFile = join(tmp.path, 'agent.yaml');
  const snapDir = join(targetDir, 'h1', 'r', 'snapshots');
  type Planted = { path: string; type: 'file' | 'symlink' | 'dir'; body?: string | Buffer; link?: string; mtimeMs?: number };
  before(() => {
    mkdirSync(snapDir, { recursive: true });
    writeFileSync(configFile, ['host: { id: h1 }', 'nats: { servers: ["nats://127.0.0.1:1"] }', 'backups:', '  - name: r', '    paths: ["/nonexistent-r"]', `    target: { type: dir, path: "${targetDir}" }`].join('\n'));
  });
  after(() => tmp.cleanup());

  const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
  function plant(id: string, entries: Planted[], listed?: Planted[]): void {
    const parts: Buffer[] = [];
    for (const e of entries) {
      const body = Buffer.from(e.body ?? '');
      parts.push(encodeHeader({ path: e.path, type: e.type, size: body.length, mode: 0o644, mtimeMs: e.mtimeMs ?? Date.now(), ...(e.link ? { linkname: e.link } : {}) }));
      if (e.type === 'file') parts.push(body, Buffer.alloc(padding(body.length)));
    }
    parts.push(TAR_END);
    const gz = gzipSync(Buffer.concat(parts));
    writeFileSync(join(snapDir, `${id}.tar.gz`), gz);
    const m: Manifest = {
      format: MANIFEST_FORMAT,
      id,
      set: 'r',
      host: 'h1',
      type: 'full',
      parent: null,
      time: new Date().toISOString(),
      time_ms: Date.parse(`${id.slice(0, 4)}-01-01`),
      roots: ['/x'],
      archive: { name: `${id}.tar.gz`, size: gz.length, sha256: sha(gz) },
      entries: (listed ?? entries).map((e) => ({ path: e.path, type: e.type, size: Buffer.from(e.body ?? '').length, mtime_ms: e.mtimeMs ?? Date.now(), mode: 0o644, ...(e.type === 'file' ? { sha256: sha(e.body ?? '') } : {}), ...(e.link ? { link: e.link } : {}) })),
      deleted: [],
      files: entries.length,
      bytes: 0,
      duration_ms: 0,
    };
    writeFileSync(join(snapDir, `${id}.json`), JSON.stringify(m));
  }
  async function restore(id: string, out: string, ...extra: string[]): Promise<{ code: number | null; r: RestoreResult; stderr: string }> {
    const res = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 'r', '--snapshot', id, '--to', out, '--json', ...extra]);
    return { code: res.code, r: JSON.parse(res.stdout || '{}') as RestoreResult, stderr: res.stderr };
  }

  it('an unsafe entry (manifest and archive) is reported, every other entry restored', async () => {
    plant('2030T-0001', [
      { path: 'ok/a.txt', type: 'file', body: 'a' },
      { path: 'ok/../../escaped.txt', type: 'file', body: 'pwned' },
      { path: 'ok/back\\slash.txt', type: 'file', body: 'b' },
      { path: '../sneaky.txt', type: 'file', body: 'pwned' },
    ], [
      { path: 'ok/a.txt', type: 'file', body: 'a' },
      { path: 'ok/../../escaped.txt', type: 'file', body: 'pwned' },
      { path: 'ok/back\\slash.txt', type: 'file', body: 'b' },
    ]);
    const out = join(tmp.path, 'o1');
    const { code, r } = await restore('2030T-0001', out);
    assert.equal(code, 1);
    assert.equal(readFileSync(join(out, 'ok/a.txt'), 'utf8'), 'a');
    assert.equal(readFileSync(join(out, 'ok/back\\slash.txt'), 'utf8'), 'b', 'a backslash is an ordinary name byte');
    assert.equal(r.files, 2);
    assert.deepEqual(r.failures.map((f) => [f.path, f.code]).sort(), [['../sneaky.txt', 'OPS_ERR_BACKUP_UNSAFE_PATH'], ['ok/../../escaped.txt', 'OPS_ERR_BACKUP_UNSAFE_PATH']]);
    assert.ok(!existsSync(join(tmp.path, 'escaped.txt')) && !existsSync(join(tmp.path, 'sneaky.txt')));
  });

  it('a folder where a file goes, a checksum mismatch, a damaged archive: reported, the rest restored, no temp file left', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    plant('2030T-0002', [
      { path: 'd/first.txt', type: 'file', body: 'first' },
      { path: 'd/blocked', type: 'file', body: 'a folder stands here' },
      { path: 'd/tampered', type: 'file', body: 'tampered' },
      { path: 'd/last.txt', type: 'file', body: 'last' },
    ], [
      { path: 'd/first.txt', type: 'file', body: 'first' },
      { path: 'd/blocked', type: 'file', body: 'a folder stands here' },
      { path: 'd/tampered', type: 'file', body: 'original' },
      { path: 'd/last.txt', type: 'file', body: 'last' },
    ]);
    const out = join(tmp.path, 'o2');
    mkdirSync(join(out, 'd', 'blocked', 'child'), { recursive: true });
    const { code, r, stderr } = await restore('2030T-0002', out);
    assert.equal(code, 1, stderr);
    assert.equal(readFileSync(join(out, 'd/first.txt'), 'utf8'), 'first');
    assert.equal(readFileSync(join(out, 'd/last.txt'), 'utf8'), 'last');
    assert.ok(statSync(join(out, 'd/blocked/child')).isDirectory(), 'the folder in the way is left as it was');
    assert.deepEqual(r.failures.map((f) => [f.path, f.code]).sort(), [['d/blocked', 'OPS_ERR_BACKUP_NOT_A_FILE'], ['d/tampered', 'OPS_ERR_BACKUP_CHECKSUM']]);
    assert.deepEqual(leftovers(out), []);

    // An archive cut in the middle of a big file's body: nothing of that file stays, not even a temp.
    plant('2030T-0003', [{ path: 'e/small.txt', type: 'file', body: 'small' }, { path: 'e/big.bin', type: 'file', body: big }]);
    const gz = join(snapDir, '2030T-0003.tar.gz');
    const whole = readFileSync(gz);
    truncateSync(gz, Math.floor(whole.length / 2));
    const out3 = join(tmp.path, 'o3');
    const cut = await restore('2030T-0003', out3);
    assert.equal(cut.code, 1);
    assert.equal(readFileSync(join(out3, 'e/small.txt'), 'utf8'), 'small');
    assert.ok(!existsSync(join(out3, 'e/big.bin')));
    assert.equal(cut.r.failures.find((f) => f.path === 'e/big.bin')?.code, 'OPS_ERR_BACKUP_ARCHIVE');
    assert.deepEqual(leftovers(out3), []);
  });

  it('a full disk (writes fail with EFBIG past ulimit -f) loses only the file that does not fit, and leaves no temp file', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 1);
    plant('2030T-0004', [{ path: 'f/a.txt', type: 'file', body: 'a' }, { path: 'f/big.bin', type: 'file', body: big }, { path: 'f/z.txt', type: 'file', body: 'z' }]);
    const out = join(tmp.path, 'o4');
    // SIGXFSZ ignored: the write fails with EFBIG, as a write to a full disk fails with ENOSPC.
    const res = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn('sh', ['-c', 'trap "" XFSZ; ulimit -f 2048; exec "$@"', 'sh', process.execPath, join(REPO_ROOT, 'bin/opsfleet-agent.js'), 'restore', '--config', configFile, '--set', 'r', '--snapshot', '2030T-0004', '--to', out, '--json'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      p.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(res.code, 1, res.stderr);
    const r = JSON.parse(res.stdout) as RestoreResult;
    assert.equal(readFileSync(join(out, 'f/a.txt'), 'utf8'), 'a');
    assert.equal(readFileSync(join(out, 'f/z.txt'), 'utf8'), 'z');
    assert.ok(!existsSync(join(out, 'f/big.bin')));
    assert.match(r.failures.find((f) => f.path === 'f/big.bin')?.reason ?? '', /EFBIG/);
    assert.deepEqual(leftovers(out), []);
  });

  it('--overwrite never (default) keeps existing files, older replaces only older ones, always replaces; each is reported', async () => {
    const t0 = Date.parse('2030-06-01T00:00:00Z');
    plant('2030T-0005', [
      { path: 'g/older-there.txt', type: 'file', body: 'from backup 1', mtimeMs: t0 },
      { path: 'g/newer-there.txt', type: 'file', body: 'from backup 2', mtimeMs: t0 },
      { path: 'g/absent.txt', type: 'file', body: 'from backup 3', mtimeMs: t0 },
    ]);
    const prepare = (out: string) => {
      write(out, 'g/older-there.txt', 'local 1');
      utimesSync(join(out, 'g/older-there.txt'), (t0 - 60_000) / 1000, (t0 - 60_000) / 1000);
      write(out, 'g/newer-there.txt', 'local 2');
      utimesSync(join(out, 'g/newer-there.txt'), (t0 + 60_000) / 1000, (t0 + 60_000) / 1000);
    };
    const read = (out: string) => readdirSync(join(out, 'g')).sort().map((n) => `${n}=${readFileSync(join(out, 'g', n), 'utf8')}`);

    const never = join(tmp.path, 'never');
    prepare(never);
    const a = await restore('2030T-0005', never);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(read(never), ['absent.txt=from backup 3', 'newer-there.txt=local 2', 'older-there.txt=local 1']);
    assert.equal(a.r.overwrite, 'never');
    assert.deepEqual([a.r.files, a.r.kept, a.r.overwritten], [1, 2, 0]);
    assert.deepEqual(a.r.keptPaths.sort(), ['g/newer-there.txt', 'g/older-there.txt']);

    const older = join(tmp.path, 'older');
    prepare(older);
    const b = await restore('2030T-0005', older, '--overwrite', 'older');
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(read(older), ['absent.txt=from backup 3', 'newer-there.txt=local 2', 'older-there.txt=from backup 1']);
    assert.deepEqual([b.r.files, b.r.kept, b.r.overwritten], [2, 1, 1]);

    const always = join(tmp.path, 'always');
    prepare(always);
    const c = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 'r', '--snapshot', '2030T-0005', '--to', always, '--overwrite', 'always']);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(read(always), ['absent.txt=from backup 3', 'newer-there.txt=from backup 2', 'older-there.txt=from backup 1']);
    assert.match(c.stdout, /overwrite always: 2 replaced, 0 existing kept; 0 not restored/);

    const bad = await runCommand('opsfleet-agent', ['restore', '--config', configFile, '--set', 'r', '--to', always, '--overwrite', 'sometimes']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--overwrite must be one of never, older, always, got "sometimes"/);
  });
});
