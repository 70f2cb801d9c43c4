import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { AuditLog } from '../audit/audit-log.js';
import { TokenStore } from '../auth/token-store.js';
import { openDatabase, SCHEMA_VERSION } from '../store/db.js';
import { createBackup } from './create-backup.js';
import { restoreBackup, verifyBackup } from './restore-backup.js';

const dir = tempDir('opsfleet-selfbackup-');
after(() => dir.cleanup());
const silent = pino({ level: 'silent' });
const counts = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return Object.fromEntries(['hosts', 'audit_log', 'api_tokens', 'events'].map((t) => [t, (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
};

/** A data_dir as a controller leaves it: database, anchor, token file and the siblings' folders. */
function makeDataDir(name: string): string {
  const d = join(dir.path, name);
  const db = openDatabase(d);
  const audit = new AuditLog(db, Date.now, { file: join(d, 'audit-head.json'), logger: silent });
  new TokenStore(db).create({ name: 'alice', role: 'admin' } as never, 'admin');
  for (let i = 0; i < 20; i++) audit.append('alice', 'run.start', `p${i}`, { i });
  const ins = db.prepare("INSERT INTO hosts (id, status, status_since_ms, first_seen_ms, last_seen_ms) VALUES (?, 'online', 0, 0, 0)");
  for (let i = 0; i < 50; i++) ins.run(`h${i}`);
  db.close();
  mkdirSync(join(d, 'pki'), { recursive: true });
  writeFileSync(join(d, 'pki', 'ca.key'), 'KEY\n', { mode: 0o600 });
  writeFileSync(join(d, 'pki', 'ca.crt'), 'CERT\n', { mode: 0o644 });
  mkdirSync(join(d, 'nats-auth', 'deep'), { recursive: true });
  writeFileSync(join(d, 'nats-auth', 'deep', 'operator.jwt'), 'JWT\n', { mode: 0o640 });
  writeFileSync(join(d, 'admin.token'), 'secret\n', { mode: 0o600 });
  writeFileSync(join(d, 'half-written.tmp'), 'x');
  return d;
}

describe('controller backup, verify, restore (controller/selfbackup)', () => {
  it('round trip: every data_dir file with its mode, the database rows, an audit chain that verifies against its anchor', async () => {
    const src = makeDataDir('src');
    const cfg = join(dir.path, 'controller.yaml');
    writeFileSync(cfg, 'data_dir: /x\n');
    for (const method of ['vacuum-into', 'backup-api'] as const) {
      const file = join(dir.path, `b-${method}.tar.gz`);
      const r = await createBackup({ dataDir: src, to: file, configFile: cfg, method });
      assert.equal(statSync(file).mode & 0o777, 0o600, 'the archive holds keys: 0600');
      assert.equal(r.manifest.schema_version, SCHEMA_VERSION);
      assert.deepEqual(
        r.manifest.files.map((f) => f.path),
        ['db/controller.db', 'data/admin.token', 'data/nats-auth/deep/operator.jwt', 'data/pki/ca.crt', 'data/pki/ca.key', 'data/audit-head.json', 'config/controller.yaml'],
      );
      // Plain tar.gz: the operator's own tools can list it.
      assert.match(execFileSync('tar', ['tzf', file], { encoding: 'utf8' }), /^MANIFEST\.json\ndb\/controller\.db\n/);
      assert.equal((await verifyBackup(file)).ok, true);
      const dest = join(dir.path, `restored-${method}`);
      const res = await restoreBackup({ file, dataDir: dest, configTo: join(dest + '-etc', 'controller.yaml') });
      assert.deepEqual(counts(join(dest, 'controller.db')), counts(join(src, 'controller.db')));
      assert.equal(readFileSync(join(dest, 'pki', 'ca.key'), 'utf8'), 'KEY\n');
      assert.equal(statSync(join(dest, 'pki', 'ca.key')).mode & 0o777, 0o600);
      assert.equal(statSync(join(dest, 'pki', 'ca.crt')).mode & 0o777, 0o644);
      assert.equal(readFileSync(join(dest, 'nats-auth', 'deep', 'operator.jwt'), 'utf8'), 'JWT\n');
      assert.equal(readFileSync(res.configWritten!, 'utf8'), 'data_dir: /x\n');
      const db = openDatabase(dest);
      try {
        const v = new AuditLog(db, Date.now, { file: join(dest, 'audit-head.json'), logger: silent }).verify();
        assert.deepEqual([v.ok, v.rows, v.warnings], [true, 20, undefined]);
      } finally {
        db.close();
      }
    }
  });

  it('restore refuses a non-empty data_dir without --force, and replaces the database with it', async () => {
    const src = makeDataDir('src2');
    const file = join(dir.path, 'b2.tar.gz');
    await createBackup({ dataDir: src, to: file });
    const busy = makeDataDir('busy');
    const db = openDatabase(busy);
    db.prepare("INSERT INTO hosts (id, status, status_since_ms, first_seen_ms, last_seen_ms) VALUES ('extra', 'online', 0, 0, 0)").run();
    db.close();
    await assert.rejects(restoreBackup({ file, dataDir: busy }), (e: Error & { code?: string }) => e.code === 'OPS_ERR_CTL_RESTORE_NOT_EMPTY' && e.message.includes(busy));
    assert.equal(counts(join(busy, 'controller.db')).hosts, 51, 'nothing touched');
    await restoreBackup({ file, dataDir: busy, force: true });
    assert.equal(counts(join(busy, 'controller.db')).hosts, 50);
  });

  it('verify and restore find a damaged or truncated archive and restore writes nothing from it', async () => {
    const src = makeDataDir('src3');
    const file = join(dir.path, 'b3.tar.gz');
    await createBackup({ dataDir: src, to: file });
    // A changed byte inside a stored file: gunzip it, flip, gzip again (the checksums must catch it, not zlib's CRC).
    const raw = execFileSync('gzip', ['-dc', file]);
    const at = raw.indexOf(Buffer.from('KEY\n'));
    raw[at] = 'X'.charCodeAt(0);
    const bad = join(dir.path, 'b3-bad.tar.gz');
    writeFileSync(bad, execFileSync('gzip', ['-c'], { input: raw }));
    const v = await verifyBackup(bad);
    assert.equal(v.ok, false);
    assert.match(v.problems.join('\n'), /data\/pki\/ca\.key has sha256 .* the manifest says/);
    const dest = join(dir.path, 'from-bad');
    await assert.rejects(restoreBackup({ file: bad, dataDir: dest }), (e: Error & { code?: string }) => e.code === 'OPS_ERR_CTL_BACKUP_DAMAGED');
    assert.deepEqual(execFileSync('ls', ['-A', dest], { encoding: 'utf8' }), '', 'nothing restored from a damaged archive');
    const cut = join(dir.path, 'b3-cut.tar.gz');
    writeFileSync(cut, readFileSync(file).subarray(0, Math.floor(statSync(file).size / 2)));
    const c = await verifyBackup(cut);
    assert.equal(c.ok, false);
    assert.match(c.problems.join('\n'), /unexpected end of file|truncated/);
  });

  it('a backup whose database is newer than this controller is refused by restore, naming both versions', async () => {
    const src = makeDataDir('src4');
    const raw = new Database(join(src, 'controller.db'));
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const file = join(dir.path, 'b4.tar.gz');
    await createBackup({ dataDir: src, to: file });
    await assert.rejects(restoreBackup({ file, dataDir: join(dir.path, 'from-newer') }), (e: Error & { code?: string }) => e.code === 'OPS_ERR_STORE_VERSION' && e.message.includes(`schema version ${SCHEMA_VERSION + 1}`) && e.message.includes(`knows (schema version ${SCHEMA_VERSION})`));
  });
});
