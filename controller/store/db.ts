import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { openSqlite, sqliteOpenError } from '../../shared/sqlite.js';
import { checkIntegrity } from './integrity.js';
import { MIGRATIONS } from './migrations.js';

/** How long the start-up integrity check may take before the controller starts anyway (and says so). */
export const INTEGRITY_CHECK_TIMEOUT_MS = 10_000;

/**
 * Opens the controller database (WAL) in data_dir and applies pending migrations. Every failure
 * names the file: OPS_ERR_STORE_CORRUPT for a damaged file (with what to do), OPS_ERR_STORE_OPEN
 * otherwise.
 */
export function openDatabase(dataDir: string, file = 'controller.db'): Database.Database {
  const path = join(dataDir, file);
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
    if (version > MIGRATIONS.length) {
      throw new OpsError('OPS_ERR_STORE_VERSION', `database ${path} has schema version ${version}, newer than this controller knows (${MIGRATIONS.length}); upgrade the controller`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
  } catch (err) {
    db.close();
    throw sqliteOpenError(err, path, 'controller database', 'OPS_ERR_STORE_OPEN');
  }
  return db;
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
