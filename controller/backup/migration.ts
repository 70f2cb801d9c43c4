/**
 * Tables of controller/backup, appended to MIGRATIONS in store/db.ts as one element: the
 * catalog of snapshots reported by agents (`backup` events), each set's last outcome, and the
 * cursor over the events table the catalog has read up to.
 */
export const BACKUPS_MIGRATION = `CREATE TABLE backup_snapshots (
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
   INSERT INTO backup_cursor (id, event_rowid) VALUES (1, 0);`;
