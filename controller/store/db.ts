import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { openSqlite, sqliteOpenError } from '../../shared/sqlite.js';
import { checkIntegrity } from './integrity.js';
import { LOGS_MIGRATION } from '../logs/log-store.js';
import { CHECKS_MIGRATION } from '../checks/migration.js';
import { BACKUPS_MIGRATION } from '../backup/migration.js';
import { EVENTS_EXPIRY_MIGRATION, HOSTS_TRUST_MIGRATION } from './ingest-migrations.js';

/**
 * Ordered schema migrations; the index+1 is the user_version. Append only: a released
 * migration is never edited, so every database converges to the same schema.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE hosts (
     id TEXT PRIMARY KEY,
     hostname TEXT NOT NULL DEFAULT '',
     status TEXT NOT NULL,
     status_since_ms INTEGER NOT NULL,
     first_seen_ms INTEGER NOT NULL,
     last_seen_ms INTEGER NOT NULL,
     last_hb_ts_ms INTEGER NOT NULL DEFAULT 0,
     tags TEXT NOT NULL DEFAULT '{}',
     agent_version TEXT NOT NULL DEFAULT '',
     rpc_endpoint TEXT NOT NULL DEFAULT '',
     rpc_tls INTEGER NOT NULL DEFAULT 0,
     instance_id TEXT NOT NULL DEFAULT '',
     last_hb_seq INTEGER NOT NULL DEFAULT 0,
     hb_interval_ms INTEGER NOT NULL DEFAULT 0,
     inventory TEXT NOT NULL DEFAULT '{}'
   );
   CREATE TABLE events (
     id TEXT PRIMARY KEY,
     host_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     instance_id TEXT NOT NULL DEFAULT '',
     seq INTEGER NOT NULL DEFAULT 0,
     ts_ms INTEGER NOT NULL,
     received_ms INTEGER NOT NULL,
     payload TEXT NOT NULL
   );
   CREATE INDEX events_host_kind ON events (host_id, kind, ts_ms);
   CREATE INDEX events_received ON events (received_ms);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
   CREATE TABLE rejected_messages (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     received_ms INTEGER NOT NULL,
     subject TEXT NOT NULL,
     stream_seq INTEGER NOT NULL,
     reason TEXT NOT NULL,
     size INTEGER NOT NULL
   );`,
  // alerting (controller/alerts): alert state by fingerprint, silences, per-group notification
  // state (what each receiver was last told) and the log of every notification attempt.
  `CREATE TABLE alerts (
     fingerprint TEXT PRIMARY KEY,
     alertname TEXT NOT NULL,
     host TEXT NOT NULL DEFAULT '',
     labels TEXT NOT NULL,
     annotations TEXT NOT NULL DEFAULT '{}',
     state TEXT NOT NULL,
     starts_at_ms INTEGER NOT NULL,
     ends_at_ms INTEGER NOT NULL DEFAULT 0,
     updated_ms INTEGER NOT NULL,
     expires_ms INTEGER,
     source TEXT NOT NULL,
     count INTEGER NOT NULL DEFAULT 1
   );
   CREATE INDEX alerts_state_expires ON alerts (state, expires_ms);
   CREATE TABLE silences (
     id TEXT PRIMARY KEY,
     matchers TEXT NOT NULL,
     starts_at_ms INTEGER NOT NULL,
     ends_at_ms INTEGER NOT NULL,
     created_by TEXT NOT NULL DEFAULT '',
     comment TEXT NOT NULL DEFAULT '',
     created_ms INTEGER NOT NULL,
     removed_ms INTEGER
   );
   CREATE TABLE notify_state (
     group_key TEXT NOT NULL,
     receiver TEXT NOT NULL,
     firing TEXT NOT NULL,
     resolved TEXT NOT NULL,
     ts_ms INTEGER NOT NULL,
     PRIMARY KEY (group_key, receiver)
   );
   CREATE TABLE notifications (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     ts_ms INTEGER NOT NULL,
     receiver TEXT NOT NULL,
     kind TEXT NOT NULL,
     group_keys TEXT NOT NULL,
     status TEXT NOT NULL,
     alerts INTEGER NOT NULL,
     merged INTEGER NOT NULL,
     attempt INTEGER NOT NULL,
     outcome TEXT NOT NULL,
     code TEXT NOT NULL DEFAULT '',
     detail TEXT NOT NULL DEFAULT '',
     bytes INTEGER NOT NULL DEFAULT 0,
     duration_ms INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX notifications_receiver ON notifications (receiver, ts_ms);`,
  // Fleet commands: runs, per-host results, and the hash-chained append-only audit log.
  `CREATE TABLE runs (
     id TEXT PRIMARY KEY,
     actor TEXT NOT NULL,
     playbook TEXT NOT NULL,
     target TEXT NOT NULL,
     matched TEXT NOT NULL,
     options TEXT NOT NULL,
     status TEXT NOT NULL,
     started_ms INTEGER NOT NULL,
     ended_ms INTEGER,
     counts TEXT NOT NULL DEFAULT '{}'
   );
   CREATE INDEX runs_started ON runs (started_ms);
   CREATE TABLE run_hosts (
     run_id TEXT NOT NULL,
     host_id TEXT NOT NULL,
     status TEXT NOT NULL,
     error TEXT NOT NULL DEFAULT '',
     started_ms INTEGER,
     ended_ms INTEGER,
     agent_started_ms INTEGER,
     agent_ended_ms INTEGER,
     steps TEXT NOT NULL DEFAULT '[]',
     output TEXT NOT NULL DEFAULT '',
     output_truncated INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (run_id, host_id)
   );
   CREATE TABLE audit_log (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     ts_ms INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     subject TEXT NOT NULL,
     details TEXT NOT NULL,
     prev_hash TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
   CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`,
  CHECKS_MIGRATION,
  // logs: per-minute level statistics, shipped lines, and the indexer's cursor (controller/logs).
  LOGS_MIGRATION,
  // backups: catalog of snapshots from `backup` events, per-set last outcome, event cursor (controller/backup).
  BACKUPS_MIGRATION,
  // Scheduler: task slots and history, self-healing remediations, pause switches.
  `CREATE TABLE task_state (
     name TEXT PRIMARY KEY,
     last_slot_ms INTEGER NOT NULL DEFAULT 0,
     last_run_id TEXT NOT NULL DEFAULT '',
     last_status TEXT NOT NULL DEFAULT '',
     last_started_ms INTEGER,
     last_ended_ms INTEGER
   );
   CREATE TABLE task_runs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     task TEXT NOT NULL,
     slot_ms INTEGER NOT NULL,
     trigger TEXT NOT NULL,
     run_id TEXT NOT NULL DEFAULT '',
     status TEXT NOT NULL,
     reason TEXT NOT NULL DEFAULT '',
     started_ms INTEGER,
     ended_ms INTEGER
   );
   CREATE INDEX task_runs_task ON task_runs (task, id);
   CREATE TABLE remediations (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     policy TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     host TEXT NOT NULL DEFAULT '',
     attempt INTEGER NOT NULL,
     run_id TEXT NOT NULL DEFAULT '',
     status TEXT NOT NULL,
     detail TEXT NOT NULL DEFAULT '',
     started_ms INTEGER NOT NULL,
     ended_ms INTEGER
   );
   CREATE INDEX remediations_policy ON remediations (policy, fingerprint, id);
   CREATE TABLE scheduler_flags (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  HOSTS_TRUST_MIGRATION,
  EVENTS_EXPIRY_MIGRATION,
];

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
