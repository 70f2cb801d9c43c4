import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { LocalState } from '../../agent/backup/local-state.js';
import { nameFromBytes } from '../../agent/backup/name-bytes.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('opsfleet-backup-state-');
after(() => tmp.cleanup());

describe('backup local state: paths as bytes', () => {
  it('keeps a name that is not valid UTF-8 exactly (SQLite TEXT would turn it into U+FFFD)', () => {
    const s = new LocalState(join(tmp.path, 'a.db'));
    const name = `srv/${nameFromBytes(Buffer.from([0x66, 0xff, 0x80]))}`;
    const other = `srv/${nameFromBytes(Buffer.from([0x66, 0xfe, 0x80]))}`;
    s.commit({ id: 's1', type: 'full', parent: null, time_ms: 1, files: 2, bytes: 0 }, [
      { path: name, type: 'file', size: 1, mtime_ms: 1, mode: 0o644, sha256: 'aa' },
      { path: other, type: 'symlink', size: 0, mtime_ms: 1, mode: 0o777, link: name },
    ], [], 0);
    assert.equal(s.get(name)?.sha256, 'aa');
    assert.equal(s.get(other)?.link, name);
    assert.deepEqual(s.pathsUnder('srv').sort(), [name, other].sort());
    s.addPending([`/${name}`]);
    assert.deepEqual(s.takePending().paths, [`/${name}`]);
    s.close();
  });

  it('converts a state db written with TEXT paths in place (same bytes), once', () => {
    const file = join(tmp.path, 'old.db');
    const db = new Database(file);
    db.exec(`CREATE TABLE files (path TEXT PRIMARY KEY, type TEXT NOT NULL, size INTEGER NOT NULL, mtime_ms INTEGER NOT NULL, mode INTEGER NOT NULL, sha256 TEXT, link TEXT);
      CREATE TABLE pending (path TEXT PRIMARY KEY, gen INTEGER NOT NULL);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`);
    db.prepare('INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)').run('etc/nginx/ü.conf', 'file', 3, 5, 420, 'bb', null);
    db.prepare('INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)').run('etc/nginx/l', 'symlink', 0, 5, 511, null, 'ü.conf');
    db.prepare('INSERT INTO pending VALUES (?, ?)').run('/etc/nginx/x', 3);
    db.close();
    const s = new LocalState(file);
    assert.equal(s.get('etc/nginx/ü.conf')?.sha256, 'bb');
    assert.equal(s.get('etc/nginx/l')?.link, 'ü.conf');
    assert.deepEqual(s.pathsUnder('etc/nginx').sort(), ['etc/nginx/l', 'etc/nginx/ü.conf']);
    assert.deepEqual(s.takePending().paths, ['/etc/nginx/x']);
    s.close();
    const raw = new Database(file);
    assert.deepEqual(raw.prepare('SELECT DISTINCT typeof(path) FROM files').pluck().all(), ['blob']);
    raw.close();
  });
});
