
/**
 * The on-target format (docs/backup.md): under the set's prefix, `snapshots/<id>.tar.gz` holds
 * the entries and `snapshots/<id>.json` (the manifest) is written last as the commit marker.
 * An archive without its manifest is an unfinished upload and is never listed or restored.
 */
export const MANIFEST_FORMAT = 'opsfleet-backup/1';

export type EntryType = 'file' | 'dir' | 'symlink';

/** One file system entry as recorded in a manifest and in the agent's local index. */
export interface ManifestEntry {
  /** Path inside the archive: the absolute path without its leading "/". */
  path: string;
  type: EntryType;
  size: number;
  mtime_ms: number;
  /** Permission bits (0o7777). */
  mode: number;
  /** sha256 (hex) of the content; files only. */
  sha256?: string;
  /** Symlink target, recorded as written (never followed). */
  link?: string;
  /**
   * Files: another path of this snapshot's archive that is the same file (a hard link). The
   * archive holds a tar link entry for this path, the content once under `hardlink`.
   */
  hardlink?: string;
  /** While building only (never in a manifest): device:inode of a file with more than one link. */
  ino?: string;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  id: string;
  set: string;
  host: string;
  type: 'full' | 'incremental';
  /** The snapshot this one applies on top of; null for a full. */
  parent: string | null;
  time: string;
  time_ms: number;
  /** Watched folders (absolute) when the snapshot was taken. */
  roots: string[];
  archive: { name: string; size: number; sha256: string };
  /** A full: every entry. An incremental: entries added or changed since `parent`. */
  entries: ManifestEntry[];
  /** Incrementals: paths removed since `parent` (a removed folder removes what is under it). */
  deleted: string[];
  files: number;
  bytes: number;
  duration_ms: number;
  /**
   * Paths that could not be read (permission, I/O error, unusable name) and are NOT in this
   * snapshot: their previous version (if any) is what a restore gives. At most SKIPPED_LISTED.
   */
  skipped?: Array<{ path: string; error: string }>;
  /** How many were skipped in all (the list may be cut). */
  skipped_total?: number;
}

/** At most this many skipped paths are listed in a manifest (a whole unreadable tree would be huge). */
export const SKIPPED_LISTED = 1000;

/** What `restore --list --json` prints per snapshot, oldest first. */
export interface SnapshotSummary {
  id: string;
  time: string;
  type: 'full' | 'incremental';
  parent: string | null;
  files: number;
  bytes: number;
  archive_bytes: number;
  deleted: number;
}

export function summarize(m: Manifest): SnapshotSummary {
  return { id: m.id, time: m.time, type: m.type, parent: m.parent, files: m.files, bytes: m.bytes, archive_bytes: m.archive.size, deleted: m.deleted.length };
}

export const archiveName = (id: string) => `snapshots/${id}.tar.gz`;
export const manifestName = (id: string) => `snapshots/${id}.json`;

/** Sortable, unique snapshot id: UTC time to the millisecond plus 4 random hex digits. */
export function snapshotId(nowMs: number, rand: string): string {
  return `${new Date(nowMs).toISOString().replace(/[-:.]/g, '')}-${rand}`;
}

export type { BackupTarget, PutSource } from '../../shared/backup/target.js';
