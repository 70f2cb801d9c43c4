import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { OpsError } from '../../shared/errors.js';
import { LOGS_MIGRATION } from '../logs/log-store.js';
import { CHECKS_MIGRATION } from '../checks/migration.js';
import { BACKUPS_MIGRATION } from '../backup/migration.js';

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
  // alerting: when each aggregation group was first due, so a restart (also after SIGKILL)
  // keeps the group's timers instead of waiting a fresh group_wait.
  `CREATE TABLE alert_groups (
     group_key TEXT PRIMARY KEY,
     first_flush_ms INTEGER NOT NULL,
     created_ms INTEGER NOT NULL
   );`,
];

/** Opens the controller database (WAL) in data_dir and applies pending migrations. */
export function openDatabase(dataDir: string, file = 'controller.db'): Database.Database {
  let db: Database.Database;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
    db = new Database(join(dataDir, file));
  } catch (err) {
    throw new OpsError('OPS_ERR_STORE_OPEN', `cannot open database in data_dir ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL: a committed transaction survives a killed process; a power loss can take
  // the last ones. Those messages were already acked, so the durable consumer will not
  // redeliver them: recovering them means replaying the stream (it keeps max_age of events).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new OpsError('OPS_ERR_STORE_VERSION', `database schema version ${version} is newer than this controller knows (${MIGRATIONS.length}); upgrade the controller`);
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
