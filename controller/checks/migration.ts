/**
 * Tables of controller/checks, appended to MIGRATIONS in store/db.ts as one element. Latest check
 * state per (host, check), the latest metric sample per host, and 1-minute downsampled metric
 * history (raw samples stay in `events` under the normal event retention).
 */
export const CHECKS_MIGRATION = `CREATE TABLE check_state (
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
   );`;
