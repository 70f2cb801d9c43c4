import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';
import { AuditLog } from '../../controller/audit/audit-log.js';
import { migrationHash, openDatabase, SCHEMA_VERSION } from '../../controller/store/db.js';
import { MIGRATIONS } from '../../controller/store/migrations.js';
import { VERSION } from '../../shared/version.js';

const dir = tempDir('opsfleet-upgrade-');
after(() => dir.cleanup());

// The previous release's database: the schema of commit 28a089c (package version 0.1.0, the
// base of the first release with schema_migrations) with rows in each table an upgrade must
// carry, made by scripts/make-release-db-fixture.ts from that commit's migrations.ts.
const FIXTURE = new URL('../fixtures/controller-db/release-0.1.0.sql', import.meta.url);
const FIXTURE_VERSION = 11;

const schemaOf = (db: Database.Database) =>
  db.prepare<[], { type: string; name: string; sql: string | null }>("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").all();
const count = (db: Database.Database, table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

function fromFixture(name: string): string {
  const d = join(dir.path, name);
  mkdirSync(d, { recursive: true });
  const db = new Database(join(d, 'controller.db'));
  db.exec(readFileSync(FIXTURE, 'utf8'));
  db.close();
  return d;
}

describe('upgrades: schema_migrations, a previous release database, an older binary', () => {
  it('the fixture holds exactly the schema of the released migrations it claims', () => {
    const d = fromFixture('claim');
    const db = new Database(join(d, 'controller.db'));
    const ref = new Database(':memory:');
    try {
      assert.equal(db.pragma('user_version', { simple: true }), FIXTURE_VERSION);
      MIGRATIONS.slice(0, FIXTURE_VERSION).forEach((m) => ref.exec(m));
      assert.deepEqual(schemaOf(db), schemaOf(ref));
    } finally {
      db.close();
      ref.close();
    }
  });

  it('a previous-release database is upgraded at open: same schema as a new one, rows kept, audit chain verifies, migrations recorded', () => {
    const d = fromFixture('upgrade');
    const fresh = openDatabase(join(dir.path, 'reference'));
    const reference = schemaOf(fresh);
    fresh.close();
    const t = Date.now();
    const db = openDatabase(d, 'controller.db', { now: () => t });
    try {
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.deepEqual(schemaOf(db), reference);
      assert.deepEqual(
        ['hosts', 'alerts', 'silences', 'runs', 'audit_log', 'api_tokens'].map((x) => [x, count(db, x)]),
        [['hosts', 3], ['alerts', 1], ['silences', 1], ['runs', 1], ['audit_log', 3], ['api_tokens', 1]],
      );
      const v = new AuditLog(db).verify();
      assert.deepEqual([v.ok, v.rows], [true, 3]);
      const rows = db.prepare<[], { version: number; hash: string; applied_ms: number; controller_version: string }>('SELECT * FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((_, i) => i + 1));
      assert.deepEqual(rows.map((r) => r.hash), MIGRATIONS.map(migrationHash));
      // What the old release ran is back-filled as unknown; what this open ran names this version.
      for (const r of rows.slice(0, FIXTURE_VERSION)) assert.deepEqual([r.applied_ms, r.controller_version], [0, 'unknown (before schema_migrations)']);
      for (const r of rows.slice(FIXTURE_VERSION)) assert.deepEqual([r.applied_ms, r.controller_version], [t, VERSION]);
    } finally {
      db.close();
    }
    // A second open applies nothing and rewrites no record.
    const again = openDatabase(d, 'controller.db', { now: () => t + 5000 });
    try {
      assert.equal((again.prepare('SELECT MAX(applied_ms) AS m FROM schema_migrations').get() as { m: number }).m, t);
    } finally {
      again.close();
    }
  });

  it('an older controller (shorter migration list) refuses the newer database, naming both versions', () => {
    const d = join(dir.path, 'newer');
    openDatabase(d, 'controller.db', { controllerVersion: '0.2.0' }).close();
    assert.throws(
      () => openDatabase(d, 'controller.db', { migrations: MIGRATIONS.slice(0, -1), controllerVersion: '0.1.0' }),
      (err: Error & { code?: string }) =>
        err.code === 'OPS_ERR_STORE_VERSION' &&
        err.message.includes(`schema version ${SCHEMA_VERSION} (migrated by opsfleet-controller 0.2.0)`) &&
        err.message.includes(`this opsfleet-controller 0.1.0 knows (schema version ${SCHEMA_VERSION - 1})`),
    );
  });

  it('a database migrated by a different build (same version, other DDL) is refused', () => {
    const d = join(dir.path, 'otherbuild');
    openDatabase(d).close();
    const raw = new Database(join(d, 'controller.db'));
    raw.prepare('UPDATE schema_migrations SET hash = ? WHERE version = 2').run('0'.repeat(64));
    raw.close();
    assert.throws(() => openDatabase(d), (err: Error & { code?: string }) => err.code === 'OPS_ERR_STORE_VERSION' && /migration 2 was applied with hash 000000000000/.test(err.message));
  });

  it('the real controller binary on a newer database exits 1 with the clear message (not a stack)', async () => {
    const d = join(dir.path, 'binary');
    openDatabase(d).close();
    const raw = new Database(join(d, 'controller.db'));
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.prepare('INSERT INTO schema_migrations (version, hash, applied_ms, controller_version) VALUES (?, ?, ?, ?)').run(SCHEMA_VERSION + 1, 'f'.repeat(64), Date.now(), '9.9.9');
    raw.close();
    const cfg = join(dir.path, 'binary.yaml');
    writeFileSync(cfg, `nats: { servers: ["nats://127.0.0.1:1"] }\ndata_dir: ${d}\nhttp: { listen: "127.0.0.1:0" }\n`);
    const r = await runCommand('opsfleet-controller', ['--config', cfg], {}, 60_000);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, new RegExp(`has schema version ${SCHEMA_VERSION + 1} \\(migrated by opsfleet-controller 9\\.9\\.9\\), newer than this opsfleet-controller ${VERSION.replaceAll('.', '\\.')} knows \\(schema version ${SCHEMA_VERSION}\\)`));
    assert.match(out, /OPS_ERR_STORE_VERSION/);
    assert.doesNotMatch(out, /\n\s+at .+\(.+:\d+:\d+\)/);
  });
});
