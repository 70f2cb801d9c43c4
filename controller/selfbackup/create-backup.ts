import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import Database from 'better-sqlite3';
import { errorLine, OpsError } from '../../shared/errors.js';
import { VERSION } from '../../shared/version.js';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, CONFIG_ENTRY, DATA_PREFIX, DB_ENTRY, MANIFEST_NAME, type BackupManifest, type ManifestFile, type SnapshotMethod } from './manifest.js';
import { TAR_END, tarHeader, tarPadding } from './tar-stream.js';

export interface CreateBackupOptions {
  dataDir: string;
  /** The archive to write (`.tar.gz`); written under a temporary name and renamed when complete. */
  to: string;
  /** The controller config file, carried as config/controller.yaml. */
  configFile?: string;
  method?: SnapshotMethod;
  /** Absolute paths never carried (a scheduled backup's local folder inside data_dir). */
  exclude?: string[];
  now?: () => number;
}

/**
 * What a controller backup carries, the one rule for `opsfleet-controller backup --to` and the
 * scheduled self_backup: the data_dir, and the config file when there is one (an absolute path,
 * so a restore says where it came from).
 */
export function backupSources(o: { dataDir: string; configFile?: string | undefined }): { dataDir: string; configFile?: string } {
  return { dataDir: o.dataDir, ...(o.configFile && existsSync(o.configFile) ? { configFile: resolve(o.configFile) } : {}) };
}

export interface BackupResult {
  file: string;
  bytes: number;
  manifest: BackupManifest;
  /** How long the database snapshot itself took (the part that shares the file with ingest). */
  snapshotMs: number;
}

/**
 * The database and what SQLite keeps beside it are carried by the snapshot, not by copying;
 * the audit anchor is written from the snapshot (a copy of the live file could be ahead of the
 * snapshot and make the restored chain look cut); `.tmp` files are half-written renames.
 */
const NOT_COPIED = /^(controller\.db(-wal|-shm|-journal)?|audit-head\.json(\.tmp)?)$/;
export const AUDIT_ANCHOR = 'audit-head.json';

export const sha256File = async (file: string): Promise<string> => {
  const h = createHash('sha256');
  for await (const c of createReadStream(file) as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
};

/** Opens the live database for reading only: the backup never writes the controller's file. */
export function openForSnapshot(file: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 10000');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (err) {
    throw new OpsError('OPS_ERR_CTL_BACKUP', `cannot read the controller database ${file}: ${errorLine(err)}`, { cause: err });
  }
  return db;
}

/**
 * A consistent copy of the live database, taken by this process while the controller writes.
 * `vacuum-into` is one read transaction (WAL: writers go on, the copy is the state at its start,
 * compacted); `backup-api` is SQLite's online backup, page by page, restarting when another
 * connection writes between steps, so after two restarts it copies the rest in one step
 * (bench/ctl-backup.bench.ts compares what each costs ingest).
 */
export async function snapshotDatabase(src: string, dest: string, method: SnapshotMethod): Promise<number> {
  const t0 = performance.now();
  const db = openForSnapshot(src);
  try {
    if (method === 'vacuum-into') db.prepare('VACUUM INTO ?').run(dest);
    else {
      // Page by page the copy restarts whenever the controller commits between two steps,
      // which under steady ingest is forever (bench/ctl-backup.bench.ts: not done after 120 s).
      // After two restarts the rest goes in one step: one read transaction, as vacuum-into.
      let last = Infinity;
      let restarts = 0;
      await db.backup(dest, {
        progress: ({ totalPages, remainingPages }) => {
          if (remainingPages > last) restarts++;
          last = remainingPages;
          return restarts >= 2 ? Math.max(totalPages, 1) : 100;
        },
      });
    }
  } catch (err) {
    throw new OpsError('OPS_ERR_CTL_BACKUP', `snapshot of ${src} (${method}) failed: ${errorLine(err)}`, { cause: err });
  } finally {
    db.close();
  }
  return performance.now() - t0;
}

/** Row counts of every table, the schema version and the audit head of a (snapshot) database. */
export function describeDatabase(file: string): { schemaVersion: number; counts: Record<string, number>; audit: { rows: number; hash: string } | null } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
    const counts: Record<string, number> = {};
    for (const t of tables) counts[t.name] = (db.prepare(`SELECT COUNT(*) AS n FROM "${t.name.replaceAll('"', '""')}"`).get() as { n: number }).n;
    const audit = counts.audit_log !== undefined ? (db.prepare<[], { id: number; hash: string }>('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1').get() ?? null) : null;
    return { schemaVersion: db.pragma('user_version', { simple: true }) as number, counts, audit: audit ? { rows: audit.id, hash: audit.hash } : null };
  } finally {
    db.close();
  }
}

/** Every regular file under dir (relative paths, '/'-separated), but what NOT_COPIED and `exclude` name. */
async function dataFiles(dataDir: string, exclude: Set<string>): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const abs = join(d, ent.name);
      const rel = relative(dataDir, abs).split(sep).join('/');
      if (exclude.has(abs) || ent.name.startsWith('.opsfleet-backup-') || ent.name.startsWith('.opsfleet-restore-')) continue;
      if (ent.isDirectory()) await walk(abs);
      else if (ent.isFile() && !(d === dataDir && NOT_COPIED.test(ent.name)) && !ent.name.endsWith('.tmp')) out.push(rel);
    }
  };
  await walk(dataDir);
  return out.sort();
}

/**
 * `opsfleet-controller backup`: snapshot of the database, every other file of data_dir (the CA,
 * the NATS authority, the admin token...) and the config file, in one `.tar.gz` with
 * MANIFEST.json first (sizes, sha-256 and modes of every entry, row counts, audit head).
 */
export async function createBackup(o: CreateBackupOptions): Promise<BackupResult> {
  const dataDir = resolve(o.dataDir);
  const to = resolve(o.to);
  const dbFile = join(dataDir, 'controller.db');
  if (!existsSync(dbFile)) throw new OpsError('OPS_ERR_CTL_BACKUP', `no controller database at ${dbFile}: is data_dir right?`);
  await mkdir(dirname(to), { recursive: true });
  const staging = await mkdtemp(join(dirname(to), '.opsfleet-backup-'));
  const partial = `${to}.partial-${process.pid}`;
  try {
    const method = o.method ?? 'vacuum-into';
    const snap = join(staging, 'controller.db');
    const snapshotMs = await snapshotDatabase(dbFile, snap, method);
    const described = describeDatabase(snap);
    const entries: Array<{ src: string; file: ManifestFile }> = [];
    const add = async (src: string, path: string, mode: number) => {
      const s = await stat(src);
      entries.push({ src, file: { path, size: s.size, sha256: await sha256File(src), mode: mode & 0o7777 } });
    };
    await add(snap, DB_ENTRY, 0o640);
    // Copied first, then hashed and archived from the copy: a file rewritten meanwhile cannot
    // make the archive disagree with its manifest.
    for (const rel of await dataFiles(dataDir, new Set([to, partial, ...(o.exclude ?? []).map((p) => resolve(p))]))) {
      const copy = join(staging, 'data', rel);
      await mkdir(dirname(copy), { recursive: true });
      const mode = (await lstat(join(dataDir, rel))).mode;
      try {
        await copyFile(join(dataDir, rel), copy);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed since the listing
        throw new OpsError('OPS_ERR_CTL_BACKUP', `cannot copy ${join(dataDir, rel)}: ${errorLine(err)}`, { cause: err });
      }
      await add(copy, `${DATA_PREFIX}${rel}`, mode);
    }
    if (described.audit) {
      const anchor = join(staging, 'anchor.json');
      await writeFile(anchor, `${JSON.stringify({ rows: described.audit.rows, hash: described.audit.hash, updatedMs: (o.now ?? Date.now)() })}\n`);
      await add(anchor, `${DATA_PREFIX}${AUDIT_ANCHOR}`, 0o640);
    }
    if (o.configFile) await add(resolve(o.configFile), CONFIG_ENTRY, 0o640);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      format_version: BACKUP_FORMAT_VERSION,
      created_at: new Date((o.now ?? Date.now)()).toISOString(),
      controller_version: VERSION,
      schema_version: described.schemaVersion,
      method,
      source: { hostname: hostname(), data_dir: dataDir, ...(o.configFile ? { config_file: resolve(o.configFile) } : {}) },
      counts: described.counts,
      audit: described.audit,
      files: entries.map((e) => e.file),
    };
    await writeArchive(partial, manifest, entries);
    await rename(partial, to);
    const d = await open(dirname(to), 'r');
    await d.sync().finally(() => d.close());
    return { file: to, bytes: (await stat(to)).size, manifest, snapshotMs };
  } catch (err) {
    await rm(partial, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function writeArchive(file: string, manifest: BackupManifest, entries: Array<{ src: string; file: ManifestFile }>): Promise<void> {
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const mtimeMs = Date.parse(manifest.created_at);
  async function* tar(): AsyncGenerator<Buffer> {
    yield tarHeader({ name: MANIFEST_NAME, size: manifestBytes.length, mode: 0o640, mtimeMs });
    yield manifestBytes;
    yield tarPadding(manifestBytes.length);
    for (const e of entries) {
      yield tarHeader({ name: e.file.path, size: e.file.size, mode: e.file.mode, mtimeMs });
      for await (const c of createReadStream(e.src) as AsyncIterable<Buffer>) yield c;
      yield tarPadding(e.file.size);
    }
    yield TAR_END;
  }
  // 0600: the archive holds the CA key, token hashes and the NATS authority's seeds.
  const out = createWriteStream(file, { mode: 0o600 });
  try {
    await pipeline(Readable.from(tar()), createGzip({ level: 6 }), out);
  } catch (err) {
    throw new OpsError('OPS_ERR_CTL_BACKUP', `cannot write ${file}: ${errorLine(err)}`, { cause: err });
  }
  await chmod(file, 0o600);
  const fh = await open(file, 'r+');
  await fh.sync().finally(() => fh.close());
}
