/**
 * Every schema change of the controller database, in order; the index+1 is the user_version
 * (`openDatabase` in db.ts applies what a database lacks, each in a transaction). The one place
 * the controller's DDL lives. Append only: a released migration is never edited, so every
 * database converges to the same schema (migrations.test.ts pins the text of each).
 */
export const MIGRATIONS: readonly string[] = [
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
  // checks (controller/checks): latest check state per (host, check), the latest metric sample
  // per host, and 1-minute downsampled metric history (raw samples stay in `events` under the
  // normal event retention).
  `CREATE TABLE check_state (
     host_id TEXT NOT NULL,
     name TEXT NOT NULL,
     type TEXT NOT NULL DEFAULT '',
     state TEXT NOT NULL,
     status TEXT NOT NULL DEFAULT '',
     detail TEXT NOT NULL DEFAULT '',
     latency_ms REAL NOT NULL DEFAULT 0,
     state_since_ms INTEGER NOT NULL,
     last_ts_ms INTEGER NOT NULL,
     last_event TEXT NOT NULL DEFAULT '',
     restarts INTEGER NOT NULL DEFAULT 0,
     last_restart_ms INTEGER NOT NULL DEFAULT 0,
     gave_up INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (host_id, name)
   );
   CREATE TABLE metric_latest (
     host_id TEXT PRIMARY KEY,
     ts_ms INTEGER NOT NULL,
     sample TEXT NOT NULL
   );
   CREATE TABLE metric_history (
     host_id TEXT NOT NULL,
     bucket_ms INTEGER NOT NULL,
     n INTEGER NOT NULL,
     cpu_avg REAL NOT NULL,
     cpu_max REAL NOT NULL,
     mem_avg REAL NOT NULL,
     mem_max REAL NOT NULL,
     load1_avg REAL NOT NULL,
     disk_max REAL NOT NULL,
     rx_bps_avg REAL NOT NULL,
     tx_bps_avg REAL NOT NULL,
     PRIMARY KEY (host_id, bucket_ms)
   );`,
  // logs: per-minute level statistics, shipped lines, and the indexer's cursor (controller/logs).
  `
  CREATE TABLE log_stats (
    host_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    source TEXT NOT NULL,
    flush INTEGER NOT NULL,
    minute_ms INTEGER NOT NULL,
    trace INTEGER NOT NULL DEFAULT 0,
    debug INTEGER NOT NULL DEFAULT 0,
    info INTEGER NOT NULL DEFAULT 0,
    warn INTEGER NOT NULL DEFAULT 0,
    error INTEGER NOT NULL DEFAULT 0,
    fatal INTEGER NOT NULL DEFAULT 0,
    none INTEGER NOT NULL DEFAULT 0,
    lines INTEGER NOT NULL DEFAULT 0,
    unparsed INTEGER NOT NULL DEFAULT 0,
    truncated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (host_id, instance_id, source, flush, minute_ms)
  );
  CREATE INDEX log_stats_minute ON log_stats (minute_ms);
  CREATE TABLE log_lines (
    host_id TEXT NOT NULL,
    source TEXT NOT NULL,
    file TEXT NOT NULL,
    offset INTEGER NOT NULL,
    path TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    level TEXT,
    message TEXT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (host_id, source, file, offset)
  );
  CREATE INDEX log_lines_ts ON log_lines (ts_ms);
  CREATE TABLE log_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), event_rowid INTEGER NOT NULL);
  INSERT INTO log_cursor (id, event_rowid) VALUES (1, 0);
`,
  // backups: catalog of snapshots from `backup` events, per-set last outcome, event cursor (controller/backup).
  `CREATE TABLE backup_snapshots (
     host_id TEXT NOT NULL,
     set_name TEXT NOT NULL,
     id TEXT NOT NULL,
     type TEXT NOT NULL,
     parent TEXT,
     time_ms INTEGER NOT NULL,
     files INTEGER NOT NULL DEFAULT 0,
     bytes INTEGER NOT NULL DEFAULT 0,
     archive_bytes INTEGER NOT NULL DEFAULT 0,
     deleted INTEGER NOT NULL DEFAULT 0,
     duration_ms INTEGER NOT NULL DEFAULT 0,
     target TEXT NOT NULL DEFAULT '',
     pruned_ms INTEGER,
     PRIMARY KEY (host_id, set_name, id)
   );
   CREATE TABLE backup_sets (
     host_id TEXT NOT NULL,
     set_name TEXT NOT NULL,
     status TEXT NOT NULL,
     last_error TEXT NOT NULL DEFAULT '',
     last_event_ms INTEGER NOT NULL,
     last_success_ms INTEGER NOT NULL DEFAULT 0,
     last_snapshot TEXT NOT NULL DEFAULT '',
     PRIMARY KEY (host_id, set_name)
   );
   CREATE TABLE backup_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), event_rowid INTEGER NOT NULL);
   INSERT INTO backup_cursor (id, event_rowid) VALUES (1, 0);`,
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
  // Host records ordered by what the controller can trust (receive time, instance, seq), the
  // agent's clock skew recorded (issue 12 item 2).
  `ALTER TABLE hosts ADD COLUMN last_hb_received_ms INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE hosts ADD COLUMN clock_skew_ms INTEGER NOT NULL DEFAULT 0;`,
  // Events carry their own expiry (issue 20 item 20): high-volume samples are kept raw for
  // retention.samples, the rest for retention.events; the pruner deletes by this one index,
  // which replaces the received-time index (same size). Rows stored before get the default 7 days.
  `ALTER TABLE events ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;
   UPDATE events SET expires_ms = received_ms + 604800000;
   DROP INDEX events_received;
   CREATE INDEX events_expires ON events (expires_ms);`,
  // alerting: when each aggregation group was first due, so a restart (also after SIGKILL)
  // keeps the group's timers instead of waiting a fresh group_wait.
  `CREATE TABLE alert_groups (
     group_key TEXT PRIMARY KEY,
     first_flush_ms INTEGER NOT NULL,
     created_ms INTEGER NOT NULL
   );`,
  // API tokens (controller/auth): only the SHA-256 of each secret; `id` is the public part of the secret.
  `CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL,
     hash TEXT NOT NULL,
     playbooks TEXT,
     target TEXT,
     created_by TEXT NOT NULL,
     created_ms INTEGER NOT NULL,
     expires_ms INTEGER,
     revoked_ms INTEGER,
     last_used_ms INTEGER
   );`,
  // Dashboard data (issue 16): the host facts the agent gathers with systeminformation (the
  // flat keys target expressions match apart from the full document, so host listings join
  // only the small part), and a 10-minute metric tier so charts cover 30 days while the
  // 1-minute tier keeps only a day (bounded: at most ~1,500 + 4,320 rows per host). The bucket
  // indexes keep the hourly prune from scanning every host's rows; the live stream looks for
  // changed alerts by updated_ms every second.
  `CREATE TABLE host_facts (
     host_id TEXT PRIMARY KEY,
     gathered_ms INTEGER NOT NULL,
     received_ms INTEGER NOT NULL,
     facts TEXT NOT NULL,
     doc TEXT NOT NULL
   );
   CREATE TABLE metric_history_10m (
     host_id TEXT NOT NULL,
     bucket_ms INTEGER NOT NULL,
     n INTEGER NOT NULL,
     cpu_avg REAL NOT NULL,
     cpu_max REAL NOT NULL,
     mem_avg REAL NOT NULL,
     mem_max REAL NOT NULL,
     load1_avg REAL NOT NULL,
     disk_max REAL NOT NULL,
     rx_bps_avg REAL NOT NULL,
     tx_bps_avg REAL NOT NULL,
     PRIMARY KEY (host_id, bucket_ms)
   );
   CREATE INDEX metric_history_bucket ON metric_history (bucket_ms);
   CREATE INDEX metric_history_10m_bucket ON metric_history_10m (bucket_ms);
   CREATE INDEX alerts_updated ON alerts (updated_ms);`,
  // Agent identities (controller/pki, issue 14): enrollment tokens (only the SHA-256 of each
  // secret; uses counted in the row so expiry and use limits are enforced in one UPDATE) and
  // each host's enrolled key, certificate and state (pending, enrolled, removed).
  `CREATE TABLE enroll_tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     hash TEXT NOT NULL,
     tags TEXT NOT NULL,
     approve TEXT NOT NULL,
     max_uses INTEGER NOT NULL,
     uses INTEGER NOT NULL DEFAULT 0,
     created_by TEXT NOT NULL,
     created_ms INTEGER NOT NULL,
     expires_ms INTEGER NOT NULL,
     revoked_ms INTEGER,
     last_used_ms INTEGER
   );
   CREATE TABLE host_identities (
     host_id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     key_fp TEXT NOT NULL,
     public_key TEXT NOT NULL,
     nats_key TEXT,
     tags TEXT NOT NULL,
     token_name TEXT NOT NULL,
     version TEXT NOT NULL DEFAULT '',
     requested_ms INTEGER NOT NULL,
     enrolled_ms INTEGER,
     accepted_by TEXT,
     cert_serial TEXT,
     not_before_ms INTEGER,
     not_after_ms INTEGER,
     renewed_ms INTEGER,
     removed_ms INTEGER,
     removed_by TEXT
   );`,
  // Which migrations ran, when, and by which controller version (openDatabase fills it; rows for
  // versions applied before this table existed are back-filled at the first start that has it).
  // A controller older than the database names the version that wrote it from here.
  // readiness_probe: the one row /readyz rewrites to prove the database takes writes.
  `CREATE TABLE schema_migrations (
     version INTEGER PRIMARY KEY,
     hash TEXT NOT NULL,
     applied_ms INTEGER NOT NULL,
     controller_version TEXT NOT NULL
   );
   CREATE TABLE readiness_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at_ms INTEGER NOT NULL);`,
  // Dashboard sessions (controller/auth/sessions.ts) survive a restart. Only the SHA-256 of the
  // cookie's id is kept (a copy of the database opens no session); the principal is the token's
  // at login, re-checked against api_tokens on every request; expired rows are pruned.
  `CREATE TABLE dashboard_sessions (
     id_hash TEXT PRIMARY KEY,
     token_name TEXT NOT NULL,
     role TEXT NOT NULL,
     playbooks TEXT,
     target TEXT,
     token_expires_ms INTEGER,
     csrf TEXT NOT NULL,
     created_ms INTEGER NOT NULL,
     expires_ms INTEGER NOT NULL,
     last_seen_ms INTEGER NOT NULL
   );
   CREATE INDEX dashboard_sessions_token ON dashboard_sessions (token_name);
   CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_ms);`,
  // Liveness reads only the hosts past their deadline instead of every online host each second
  // (10,000 rows/s at 10,000 hosts): partial indexes on the deadline (3 x the host's own
  // heartbeat interval, 30 s when it never told one; the expression must stay identical to the
  // one in HostsStore) and on last_seen_ms for a fixed offline_after.
  `CREATE INDEX hosts_online_deadline ON hosts (last_seen_ms + (CASE WHEN hb_interval_ms > 0 THEN 3 * hb_interval_ms ELSE 30000 END)) WHERE status = 'online';
   CREATE INDEX hosts_online_last_seen ON hosts (last_seen_ms) WHERE status = 'online';`,
  // The control log (controller/ha/jetstream-control-log.ts): control_outbox holds changes this
  // controller made until the stream stored them (a NATS outage delays replication, never loses
  // it); control_applied holds the ids of records made by other controllers that were applied
  // here, so a redelivered record is applied once.
  `CREATE TABLE control_outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     ts_ms INTEGER NOT NULL,
     body TEXT NOT NULL
   );
   CREATE TABLE control_applied (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     origin TEXT NOT NULL,
     applied_ms INTEGER NOT NULL
   );
   CREATE INDEX control_applied_time ON control_applied (applied_ms);`,
  // What a new leader knows (docs/scaling.md, "Control log"): policy_tracks holds the self-heal
  // flap guard (attempts, verify window, cooldown, escalated per policy and alert), written on
  // every decision and replicated, so a failover or a restart does not grant a flapping service
  // a fresh set of restarts; task_sets holds the fleet's task set (the newest load on either
  // controller: each file's text) and the hash of this controller's own tasks_dir.
  `CREATE TABLE policy_tracks (
     policy TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     host TEXT NOT NULL,
     phase TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     verify_until_ms INTEGER NOT NULL,
     cooldown_until_ms INTEGER NOT NULL,
     escalated INTEGER NOT NULL,
     origin TEXT NOT NULL,
     updated_ms INTEGER NOT NULL,
     PRIMARY KEY (policy, fingerprint)
   );
   CREATE TABLE task_sets (
     which TEXT PRIMARY KEY,
     hash TEXT NOT NULL,
     origin TEXT NOT NULL,
     set_ms INTEGER NOT NULL,
     files TEXT NOT NULL
   );`,
  // The control log's read position: the stream sequence of the last record this controller
  // handled (applied, own, duplicate or skipped). The consumer's ack floor is not that: the
  // server moves it past a record that was delivered, never acked, and then aged out, so a
  // controller stopped with a pull in flight would count one record too few as missed.
  `CREATE TABLE control_cursor (
     stream TEXT PRIMARY KEY,
     stream_seq INTEGER NOT NULL
   );`,
];
