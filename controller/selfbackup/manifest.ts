/** What `MANIFEST.json`, the first entry of a controller backup, says. */
export const BACKUP_FORMAT = 'opsfleet-controller-backup';
export const BACKUP_FORMAT_VERSION = 1;
export const MANIFEST_NAME = 'MANIFEST.json';
/** The database snapshot's name inside the archive. */
export const DB_ENTRY = 'db/controller.db';
/** Data-dir files sit under this prefix, with their path relative to data_dir. */
export const DATA_PREFIX = 'data/';
/** The controller config file the backup was taken with (when known). */
export const CONFIG_ENTRY = 'config/controller.yaml';

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  mode: number;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  format_version: number;
  created_at: string;
  controller_version: string;
  /** user_version of the snapshot: a controller knowing fewer migrations cannot restore it. */
  schema_version: number;
  method: SnapshotMethod;
  source: { hostname: string; data_dir: string; config_file?: string };
  /** Rows per table of the snapshot: restore and verify recount and compare. */
  counts: Record<string, number>;
  /** The audit chain's head in the snapshot (the anchor restored beside it). */
  audit: { rows: number; hash: string } | null;
  files: ManifestFile[];
}

export type SnapshotMethod = 'vacuum-into' | 'backup-api';
export const SNAPSHOT_METHODS: readonly SnapshotMethod[] = ['vacuum-into', 'backup-api'];
