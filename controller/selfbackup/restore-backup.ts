import { chmod, chown, mkdir, mkdtemp, open, readdir, rename, rm, stat, copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { OpsError } from '../../shared/errors.js';
import { VERSION } from '../../shared/version.js';
import { SCHEMA_VERSION } from '../store/db.js';
import { CONFIG_ENTRY, DATA_PREFIX, DB_ENTRY, type BackupManifest } from './manifest.js';
import { checkDatabase, readBackup, type DatabaseCheck } from './read-backup.js';

export interface VerifyReport {
  ok: boolean;
  file: string;
  manifest?: BackupManifest;
  database?: DatabaseCheck;
  problems: string[];
}

function refuseNewer(m: BackupManifest, knows = SCHEMA_VERSION): void {
  if (m.schema_version > knows) {
    throw new OpsError('OPS_ERR_STORE_VERSION', `the backup's database has schema version ${m.schema_version} (opsfleet-controller ${m.controller_version}), newer than this opsfleet-controller ${VERSION} knows (schema version ${knows}): restore it with opsfleet-controller ${m.controller_version} or newer`);
  }
}

/**
 * `opsfleet-controller verify FILE` (as restic's `check --read-data`): every byte of the archive
 * against the manifest, then the database snapshot itself (integrity, row counts, audit chain).
 */
export async function verifyBackup(file: string): Promise<VerifyReport> {
  const path = resolve(file);
  const tmp = await mkdtemp(join(dirname(path), '.opsfleet-verify-'));
  try {
    let manifest: BackupManifest;
    try {
      manifest = await readBackup(path, { extractTo: tmp });
    } catch (err) {
      if (err instanceof OpsError && err.code === 'OPS_ERR_CTL_BACKUP_DAMAGED') return { ok: false, file: path, problems: [err.message] };
      throw err;
    }
    const database = checkDatabase(join(tmp, DB_ENTRY), manifest);
    const problems = [...database.problems];
    if (manifest.schema_version > SCHEMA_VERSION) problems.push(`schema version ${manifest.schema_version} is newer than this controller knows (${SCHEMA_VERSION}): verify with opsfleet-controller ${manifest.controller_version} or newer`);
    return { ok: problems.length === 0, file: path, manifest, database, problems };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export interface RestoreOptions {
  file: string;
  dataDir: string;
  /** Restore over a data_dir that holds files (its database is replaced, archive files overwritten). */
  force?: boolean;
  /** Where to write the config file the backup carries (not written otherwise). */
  configTo?: string;
}

export interface RestoreResult {
  manifest: BackupManifest;
  database: DatabaseCheck;
  files: number;
  configWritten?: string;
}

/**
 * `opsfleet-controller restore FILE --data-dir D`: onto a stopped controller's (usually new)
 * data_dir. Everything is extracted and checked in a folder inside D first; only a complete,
 * verified backup replaces anything. Restored files take the owner of D (create D owned by
 * the service user, as the installer does, and the controller can read what was restored).
 */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const file = resolve(o.file);
  const dataDir = resolve(o.dataDir);
  if (existsSync(dataDir)) {
    const present = (await readdir(dataDir)).filter((n) => !n.startsWith('.opsfleet-restore-'));
    if (present.length > 0 && !o.force) {
      throw new OpsError('OPS_ERR_CTL_RESTORE_NOT_EMPTY', `data dir ${dataDir} is not empty (${present.slice(0, 5).join(', ')}${present.length > 5 ? ', …' : ''}): restore onto an empty folder, or pass --force to replace its database and the files the backup holds (stop the controller first)`);
    }
  }
  if (o.configTo && existsSync(o.configTo) && !o.force) throw new OpsError('OPS_ERR_CTL_RESTORE_NOT_EMPTY', `--config-to ${o.configTo} exists: pass --force to overwrite it`);
  await mkdir(dataDir, { recursive: true, mode: 0o750 });
  const owner = await stat(dataDir);
  const staging = await mkdtemp(join(dataDir, '.opsfleet-restore-'));
  try {
    const manifest = await readBackup(file, { extractTo: staging, onManifest: (m) => refuseNewer(m) });
    const database = checkDatabase(join(staging, DB_ENTRY), manifest);
    if (database.problems.length) throw new OpsError('OPS_ERR_CTL_BACKUP_DAMAGED', `${file}: the database in the backup fails its checks: ${database.problems.join('; ')}`);
    for (const suffix of ['', '-wal', '-shm', '-journal']) await rm(join(dataDir, `controller.db${suffix}`), { force: true });
    const place = async (from: string, to: string, mode: number) => {
      await mkdir(dirname(to), { recursive: true, mode: 0o750 });
      if (dirname(to) !== dataDir) await chown(dirname(to), owner.uid, owner.gid);
      await rename(from, to);
      await chmod(to, mode);
      await chown(to, owner.uid, owner.gid);
    };
    await place(join(staging, DB_ENTRY), join(dataDir, 'controller.db'), 0o640);
    let files = 1;
    for (const f of manifest.files.filter((x) => x.path.startsWith(DATA_PREFIX))) {
      await place(join(staging, f.path), join(dataDir, f.path.slice(DATA_PREFIX.length)), f.mode);
      files++;
    }
    let configWritten: string | undefined;
    const cfg = manifest.files.find((f) => f.path === CONFIG_ENTRY);
    if (cfg && o.configTo) {
      await mkdir(dirname(resolve(o.configTo)), { recursive: true });
      await copyFile(join(staging, CONFIG_ENTRY), resolve(o.configTo));
      await chmod(resolve(o.configTo), cfg.mode);
      configWritten = resolve(o.configTo);
    }
    const d = await open(dataDir, 'r');
    await d.sync().finally(() => d.close());
    return { manifest, database, files, ...(configWritten ? { configWritten } : {}) };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
