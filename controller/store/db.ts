import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { openSqlite, sqliteOpenError } from '../../shared/sqlite.js';
import { checkIntegrity } from './integrity.js';
import { MIGRATIONS } from './migrations.js';
import { VERSION } from '../../shared/version.js';

/** How long the start-up integrity check may take before the controller starts anyway (and says so). */
export const INTEGRITY_CHECK_TIMEOUT_MS = 10_000;

/** The schema version this controller writes: the number of migrations it knows. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface OpenDatabaseOptions {
  /** The migration list (tests stand in an older controller with a shorter one). */
  migrations?: readonly string[];
  /** Recorded in schema_migrations for the migrations this open applies. */
  controllerVersion?: string;
  now?: () => number;
}

export const migrationHash = (sql: string): string => createHash('sha256').update(sql).digest('hex');

/**
 * Opens the controller database (WAL) in data_dir and applies pending migrations, each recorded
 * in schema_migrations (version, hash, when, by which controller version). Every failure names
 * the file: OPS_ERR_STORE_CORRUPT for a damaged file (with what to do), OPS_ERR_STORE_VERSION for
 * a database newer than this controller or migrated by a different build, OPS_ERR_STORE_OPEN
 * otherwise.
 */
export function openDatabase(dataDir: string, file = 'controller.db', o: OpenDatabaseOptions = {}): Database.Database {
  const path = join(dataDir, file);
  const migrations = o.migrations ?? MIGRATIONS;
  const ours = o.controllerVersion ?? VERSION;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw new OpsError('OPS_ERR_STORE_OPEN', `cannot create data_dir ${dataDir} for ${path}: ${(err as Error).message}`, { cause: err });
  }
  // NORMAL in WAL (set by openSqlite): a committed transaction survives a killed process; a
  // power loss can take the last ones. Those messages were already acked, so the durable
  // consumer will not redeliver them: recovering them means replaying the stream.
  const db = openSqlite(path, { what: 'controller database', code: 'OPS_ERR_STORE_OPEN' });
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) throw newerSchema(db, path, version, migrations.length, ours);
    const now = (o.now ?? Date.now)();
    const appliedNow = new Set<number>();
    for (let v = version; v < migrations.length; v++) {
      db.transaction(() => {
        db.exec(migrations[v]!);
        db.pragma(`user_version = ${v + 1}`);
      })();
      appliedNow.add(v + 1);
    }
    recordMigrations(db, path, migrations, appliedNow, now, ours);
  } catch (err) {
    db.close();
    throw sqliteOpenError(err, path, 'controller database', 'OPS_ERR_STORE_OPEN');
  }
  return db;
}

function hasMigrationsTable(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
}

/**
 * Fills schema_migrations (a database migrated before the table existed gets its earlier rows
 * back-filled as applied at an unknown time by an unknown version) and checks that what the
 * database ran is what this controller would run: a different hash at the same version means
 * another build's schema, which this controller must not write to.
 */
function recordMigrations(db: Database.Database, path: string, migrations: readonly string[], appliedNow: Set<number>, now: number, ours: string): void {
  if (!hasMigrationsTable(db)) return; // an older list (tests) that predates the table
  const insert = db.prepare('INSERT OR IGNORE INTO schema_migrations (version, hash, applied_ms, controller_version) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    migrations.forEach((sql, i) => {
      const known = appliedNow.has(i + 1);
      insert.run(i + 1, migrationHash(sql), known ? now : 0, known ? ours : 'unknown (before schema_migrations)');
    });
  })();
  const rows = db.prepare<[], { version: number; hash: string; controller_version: string }>('SELECT version, hash, controller_version FROM schema_migrations ORDER BY version').all();
  for (const r of rows) {
    const want = migrations[r.version - 1];
    if (want !== undefined && migrationHash(want) !== r.hash) {
      throw new OpsError(
        'OPS_ERR_STORE_VERSION',
        `database ${path}: migration ${r.version} was applied with hash ${r.hash.slice(0, 12)}… (by opsfleet-controller ${r.controller_version}) but this opsfleet-controller ${ours} has ${migrationHash(want).slice(0, 12)}… for it: the database comes from a different build; restore a backup made by this version`,
      );
    }
  }
}

function newerSchema(db: Database.Database, path: string, version: number, known: number, ours: string): OpsError {
  let by: string | undefined;
  try {
    if (hasMigrationsTable(db)) by = db.prepare<[], { v: string }>('SELECT controller_version AS v FROM schema_migrations ORDER BY version DESC LIMIT 1').get()?.v;
  } catch {
    /* the message without the writer's version is still right */
  }
  return new OpsError(
    'OPS_ERR_STORE_VERSION',
    `database ${path} has schema version ${version}${by ? ` (migrated by opsfleet-controller ${by})` : ''}, newer than this opsfleet-controller ${ours} knows (schema version ${known}): run the newer controller, or restore a backup taken before the upgrade`,
  );
}

/**
 * The start-up check: a bounded quick_check of the open database. A damaged file refuses the
 * start with OPS_ERR_STORE_CORRUPT naming the file and what to do; a check that overruns its
 * deadline is reported and the start goes on (the run-time check on SQLITE_CORRUPT still holds).
 */
export async function verifyDatabase(dataDir: string, log: Logger, timeoutMs = INTEGRITY_CHECK_TIMEOUT_MS, file = 'controller.db'): Promise<void> {
  const path = join(dataDir, file);
  const r = await checkIntegrity(path, { timeoutMs });
  if (r.ok === true) {
    log.info({ file: path, ms: r.ms }, 'database integrity ok');
    return;
  }
  if (r.ok === 'timeout') {
    log.warn({ file: path, ms: r.ms }, 'database integrity check did not finish in time; starting without it');
    return;
  }
  throw new OpsError('OPS_ERR_STORE_CORRUPT', `controller database ${path} is corrupt (${r.problems.join('; ')}): stop the controller, restore the file from a backup or move it aside (with its -wal and -shm files) to start empty, then start again`);
}
