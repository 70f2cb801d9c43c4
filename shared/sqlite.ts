import Database from 'better-sqlite3';
import { OpsError } from './errors.js';

/** SQLite result codes that mean the file itself is damaged (not a lock or a full disk). */
export function isCorruptionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT_'));
}

/**
 * Turns any error met while opening or preparing a database into an OpsError that names the
 * file: corruption becomes OPS_ERR_STORE_CORRUPT with what to do about it, everything else
 * `code` (the caller's area, e.g. OPS_ERR_OUTBOX_OPEN).
 */
export function sqliteOpenError(err: unknown, file: string, what: string, code: string): OpsError {
  if (err instanceof OpsError) return err;
  const msg = (err as Error)?.message ?? String(err);
  if (isCorruptionError(err)) {
    return new OpsError('OPS_ERR_STORE_CORRUPT', `${what} ${file} is corrupt (${msg}): stop the daemon, restore the file from a backup or move it aside (with its -wal and -shm files) to start empty, then start again`, { cause: err });
  }
  return new OpsError(code, `cannot open ${what} ${file}: ${msg}`, { cause: err });
}

/**
 * Opens a SQLite file in WAL mode with the project's settings. Every failure names the file and
 * carries `code` (or OPS_ERR_STORE_CORRUPT): a bare "file is not a database" from deep inside a
 * start is useless to the operator who has to act on it.
 */
export function openSqlite(file: string, o: { what: string; code: string; busyTimeoutMs?: number }): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    // The first statement that reads the header: a file that is not a database fails here.
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL: a committed transaction survives a killed process (a power loss can take the last ones).
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${o.busyTimeoutMs ?? 5000}`);
    return db;
  } catch (err) {
    try {
      db?.close();
    } catch {
      /* already unusable */
    }
    throw sqliteOpenError(err, file, o.what, o.code);
  }
}

/** Runs one step of opening a database (schema, first reads) with its errors named like openSqlite's. */
export function openStep<T>(fn: () => T, file: string, what: string, code: string): T {
  try {
    return fn();
  } catch (err) {
    throw sqliteOpenError(err, file, what, code);
  }
}
