import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from './db.js';
import { MIGRATIONS } from './migrations.js';

const dir = tempDir('opsfleet-migrations-');
after(() => dir.cleanup());

// The released migrations, by content: a database at user_version N has run exactly these.
// Editing one (instead of appending a new one) fails here; append the new hash when you append.
const RELEASED = ['e80b12f338fbfc4d', 'eb93e97dba53b155', '5948aef1d3bd35df', '92b587875af881b0', '64b3e676839aa66c', '3e460dac32773560', 'fb005b9bd0f8d55e', '5c1fba083bd49cd8', 'e5bea7b5ce30eeb2', 'ae9c18ff138a1e09', 'cb617d1b7629f532', 'ab41601f472229b3', '4a0314e653a34e23', '666322ae52a14bca', 'c7f8871b72f5a1b5', '12704bee2a934392', '8c40a6256d133d1e', '3a57b1f5564c6e8c', '8e780b8cd7d6ca39'];
const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

const schemaOf = (db: Database.Database) =>
  db.prepare<[], { type: string; name: string; sql: string | null }>("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").all();

describe('controller database migrations (controller/store/migrations.ts)', () => {
  it('released migrations are unchanged, in the same order', () => {
    assert.ok(MIGRATIONS.length >= RELEASED.length);
    assert.deepEqual(MIGRATIONS.slice(0, RELEASED.length).map(hash), RELEASED);
  });

  it('a new database gets every migration and user_version = their count', () => {
    const db = openDatabase(join(dir.path, 'fresh'));
    try {
      assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      const tables = new Set(schemaOf(db).filter((r) => r.type === 'table').map((r) => r.name));
      for (const t of ['hosts', 'events', 'alerts', 'runs', 'audit_log', 'check_state', 'log_stats', 'backup_snapshots', 'task_state']) assert.ok(tables.has(t), t);
    } finally {
      db.close();
    }
  });

  it('a database left at an older version is brought up in order, to the same schema as a new one', () => {
    const old = join(dir.path, 'old');
    const fresh = openDatabase(join(dir.path, 'reference'));
    const reference = schemaOf(fresh);
    fresh.close();
    // What an older controller left behind: the first three migrations only.
    const seeded = openDatabase(old);
    seeded.close();
    const raw = new Database(join(old, 'controller.db'));
    for (const r of schemaOf(raw).filter((x) => x.type === 'table')) raw.exec(`DROP TABLE IF EXISTS "${r.name}"`);
    raw.pragma('user_version = 0');
    for (let v = 0; v < 3; v++) raw.exec(MIGRATIONS[v]!);
    raw.pragma('user_version = 3');
    raw.close();
    const db = openDatabase(old);
    try {
      assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.deepEqual(schemaOf(db), reference);
    } finally {
      db.close();
    }
  });

  it('a database newer than this controller is refused with OPS_ERR_STORE_VERSION', () => {
    const path = join(dir.path, 'newer');
    openDatabase(path).close();
    const raw = new Database(join(path, 'controller.db'));
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    assert.throws(() => openDatabase(path), (err: Error & { code?: string }) => err.code === 'OPS_ERR_STORE_VERSION');
  });

  it('no other controller file holds DDL: migrations.ts is the one place', () => {
    const root = new URL('../', import.meta.url).pathname;
    const offenders: string[] = [];
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && p !== join(root, 'store', 'migrations.ts')) {
          if (/\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|TRIGGER|VIEW)\b/i.test(readFileSync(p, 'utf8'))) offenders.push(p.slice(root.length));
        }
      }
    };
    walk(root);
    assert.deepEqual(offenders, []);
  });
});
