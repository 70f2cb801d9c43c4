import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { sqliteOpenError } from '../../shared/sqlite.js';
import { OpsError } from '../../shared/errors.js';
import { bytesOfName, nameFromBytes } from './name-bytes.js';
import type { ManifestEntry } from './types.js';

/**
 * Paths and link targets are stored as BLOBs of their exact bytes: SQLite TEXT goes through
 * UTF-8 and would turn a name that is not valid UTF-8 into U+FFFD (a different file). BLOBs
 * compare bytewise, as UTF-8 TEXT did, so the prefix ranges below keep working.
 */
const B = (s: string): Buffer => {
  const b = bytesOfName(s);
  if (!b) throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `not a file name: ${JSON.stringify(s)}`);
  return b;
};
const S = (b: Buffer | string): string => (typeof b === 'string' ? b : nameFromBytes(b));
const PATHS_AS_BYTES = 'paths_as_bytes';

/** Pending marker meaning "compare the whole tree" (startup, periodic rescan, watcher overflow). */
export const RESCAN_ALL = '*';

export interface LocalSnapshot {
  id: string;
  type: 'full' | 'incremental';
  parent: string | null;
  time_ms: number;
  files: number;
  bytes: number;
}

/**
 * A backup set's durable local state (SQLite in the agent's state dir): the index of the tree
 * as of the last committed snapshot, the pending changed paths, and the snapshots taken.
 * Pending paths are committed as soon as the watcher reports them, so a SIGKILL loses nothing;
 * each has a generation so paths changed again during a snapshot stay pending after it.
 */
export class LocalState {
  private readonly db: Database.Database;
  private gen: number;

  constructor(readonly file: string) {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      this.db = new Database(file);
    } catch (err) {
      throw sqliteOpenError(err, file, 'backup state', 'OPS_ERR_BACKUP_STATE');
    }
    try {
      this.open();
    } catch (err) {
      this.db.close();
      throw sqliteOpenError(err, file, 'backup state', 'OPS_ERR_BACKUP_STATE');
    }
    this.gen = (this.db.prepare('SELECT max(gen) AS g FROM pending').get() as { g: number | null }).g ?? 0;
  }

  /** Settings and schema; the first reads of the file, so a damaged one fails here with its name. */
  private open(): void {
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL: a committed transaction survives a killed process (not a power loss).
    this.db.pragma('synchronous = NORMAL');
    // A snapshot worker thread writes staged rows through its own connection.
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, type TEXT NOT NULL, size INTEGER NOT NULL, mtime_ms INTEGER NOT NULL, mode INTEGER NOT NULL, sha256 TEXT, link TEXT);
      CREATE TABLE IF NOT EXISTS pending (path TEXT PRIMARY KEY, gen INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshots (id TEXT PRIMARY KEY, type TEXT NOT NULL, parent TEXT, time_ms INTEGER NOT NULL, files INTEGER NOT NULL, bytes INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS staged_files (snap TEXT NOT NULL, path TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL, mtime_ms INTEGER NOT NULL, mode INTEGER NOT NULL, sha256 TEXT, link TEXT, PRIMARY KEY (snap, path));
      CREATE TABLE IF NOT EXISTS staged_deleted (snap TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (snap, path));`);
    if (!this.db.prepare('SELECT 1 FROM meta WHERE key = ?').get(PATHS_AS_BYTES)) {
      // State written before paths were bytes: its TEXT is the UTF-8 of the name, the same bytes.
      this.db.transaction(() => {
        this.db.exec(`
          UPDATE files SET path = CAST(path AS BLOB), link = CAST(link AS BLOB) WHERE typeof(path) = 'text';
          UPDATE pending SET path = CAST(path AS BLOB) WHERE typeof(path) = 'text';
          UPDATE staged_files SET path = CAST(path AS BLOB), link = CAST(link AS BLOB) WHERE typeof(path) = 'text';
          UPDATE staged_deleted SET path = CAST(path AS BLOB) WHERE typeof(path) = 'text';`);
        this.db.prepare("INSERT INTO meta (key, value) VALUES (?, '1')").run(PATHS_AS_BYTES);
      })();
    }
  }

  addPending(paths: readonly string[]): void {
    if (paths.length === 0) return;
    const gen = ++this.gen;
    const st = this.db.prepare('INSERT INTO pending (path, gen) VALUES (?, ?) ON CONFLICT(path) DO UPDATE SET gen = excluded.gen');
    this.db.transaction(() => {
      for (const p of paths) st.run(B(p), gen);
    })();
  }

  pendingCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM pending').get() as { n: number }).n;
  }

  /** The pending paths and the generation they were taken at (pass it to clearPending). */
  takePending(): { paths: string[]; gen: number } {
    const rows = this.db.prepare('SELECT path FROM pending').pluck().all() as Buffer[];
    return { paths: rows.map(S), gen: this.gen };
  }

  get(path: string): ManifestEntry | undefined {
    const r = this.db.prepare('SELECT * FROM files WHERE path = ?').get(B(path)) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  /** Indexed paths equal to `dir` or under it. */
  pathsUnder(dir: string): string[] {
    return (this.db.prepare('SELECT path FROM files WHERE path = ? OR (path >= ? AND path < ?)').pluck().all(B(dir), B(`${dir}/`), B(`${dir}0`)) as Buffer[]).map(S);
  }

  allPaths(): string[] {
    return (this.db.prepare('SELECT path FROM files').pluck().all() as Buffer[]).map(S);
  }

  allEntries(): ManifestEntry[] {
    return (this.db.prepare('SELECT * FROM files ORDER BY path').all() as Row[]).map(fromRow);
  }

  lastSnapshot(): LocalSnapshot | undefined {
    return this.db.prepare('SELECT * FROM snapshots ORDER BY time_ms DESC, id DESC LIMIT 1').get() as LocalSnapshot | undefined;
  }

  lastFull(): LocalSnapshot | undefined {
    return this.db.prepare("SELECT * FROM snapshots WHERE type = 'full' ORDER BY time_ms DESC, id DESC LIMIT 1").get() as LocalSnapshot | undefined;
  }

  incrementalsSince(fullId: string): number {
    return (this.db.prepare("SELECT count(*) AS n FROM snapshots WHERE type = 'incremental' AND id > ?").get(fullId) as { n: number }).n;
  }

  snapshots(): LocalSnapshot[] {
    return this.db.prepare('SELECT * FROM snapshots ORDER BY time_ms, id').all() as LocalSnapshot[];
  }

  forgetSnapshots(ids: readonly string[]): void {
    const st = this.db.prepare('DELETE FROM snapshots WHERE id = ?');
    this.db.transaction(() => ids.forEach((id) => st.run(id)))();
  }

  /**
   * Records a committed snapshot in one transaction: the index moves to the new tree state and
   * the pending paths up to `gen` are done.
   */
  commit(s: LocalSnapshot, entries: readonly ManifestEntry[], deleted: readonly string[], gen: number): void {
    const put = this.db.prepare('INSERT OR REPLACE INTO files (path, type, size, mtime_ms, mode, sha256, link) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const delOne = this.db.prepare('DELETE FROM files WHERE path = ? OR (path >= ? AND path < ?)');
    this.db.transaction(() => {
      if (s.type === 'full') this.db.exec('DELETE FROM files');
      for (const d of deleted) delOne.run(B(d), B(`${d}/`), B(`${d}0`));
      for (const e of entries) put.run(B(e.path), e.type, e.size, e.mtime_ms, e.mode, e.sha256 ?? null, e.link !== undefined ? B(e.link) : null);
      this.db.prepare('INSERT OR REPLACE INTO snapshots (id, type, parent, time_ms, files, bytes) VALUES (?, ?, ?, ?, ?, ?)').run(s.id, s.type, s.parent, s.time_ms, s.files, s.bytes);
      this.db.prepare('DELETE FROM pending WHERE gen <= ?').run(gen);
    })();
  }

  /** Records a built snapshot's index changes aside, until its upload succeeds (commitStaged). */
  stage(snap: string, entries: readonly ManifestEntry[], deleted: readonly string[]): void {
    const put = this.db.prepare('INSERT OR REPLACE INTO staged_files (snap, path, type, size, mtime_ms, mode, sha256, link) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const del = this.db.prepare('INSERT OR IGNORE INTO staged_deleted (snap, path) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const e of entries) put.run(snap, B(e.path), e.type, e.size, e.mtime_ms, e.mode, e.sha256 ?? null, e.link !== undefined ? B(e.link) : null);
      for (const d of deleted) del.run(snap, B(d));
    })();
  }

  /** Like commit(), from the rows stage() set aside: the index moves without entries passing through JS. */
  commitStaged(s: LocalSnapshot, gen: number): void {
    const delOne = this.db.prepare('DELETE FROM files WHERE path = ? OR (path >= ? AND path < ?)');
    this.db.transaction(() => {
      if (s.type === 'full') this.db.exec('DELETE FROM files');
      for (const raw of this.db.prepare('SELECT path FROM staged_deleted WHERE snap = ?').pluck().all(s.id) as Buffer[]) {
        const d = S(raw);
        delOne.run(B(d), B(`${d}/`), B(`${d}0`));
      }
      this.db.prepare('INSERT OR REPLACE INTO files (path, type, size, mtime_ms, mode, sha256, link) SELECT path, type, size, mtime_ms, mode, sha256, link FROM staged_files WHERE snap = ?').run(s.id);
      this.db.prepare('INSERT OR REPLACE INTO snapshots (id, type, parent, time_ms, files, bytes) VALUES (?, ?, ?, ?, ?, ?)').run(s.id, s.type, s.parent, s.time_ms, s.files, s.bytes);
      this.db.prepare('DELETE FROM pending WHERE gen <= ?').run(gen);
      this.dropStaged(s.id);
    })();
  }

  /** Forgets staged rows: of one snapshot, or all (at start: leftovers of a killed build). */
  dropStaged(snap?: string): void {
    if (snap === undefined) this.db.exec('DELETE FROM staged_files; DELETE FROM staged_deleted;');
    else {
      this.db.prepare('DELETE FROM staged_files WHERE snap = ?').run(snap);
      this.db.prepare('DELETE FROM staged_deleted WHERE snap = ?').run(snap);
    }
  }

  /** Pending paths up to `gen` turned out to change nothing. */
  commitNothing(gen: number): void {
    this.db.prepare('DELETE FROM pending WHERE gen <= ?').run(gen);
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

interface Row {
  path: Buffer | string;
  type: ManifestEntry['type'];
  size: number;
  mtime_ms: number;
  mode: number;
  sha256: string | null;
  link: Buffer | string | null;
}

function fromRow(r: Row): ManifestEntry {
  return { path: S(r.path), type: r.type, size: r.size, mtime_ms: r.mtime_ms, mode: r.mode, ...(r.sha256 ? { sha256: r.sha256 } : {}), ...(r.link !== null ? { link: S(r.link) } : {}) };
}
