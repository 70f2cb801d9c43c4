import { createHash, type Hash } from 'node:crypto';
import { chmod, lstat, lutimes, mkdir, open, realpath, rename, rm, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { OpsError } from '../../shared/errors.js';
import { chainOf, listSnapshots } from './catalog.js';
import { SafeDirs, safeRelPath } from './safe-path.js';
import { toArchivePath } from './scan.js';
import { TarReader, type EntrySink, type TarHeader } from './tar.js';
import { archiveName, type BackupTarget, type Manifest, type ManifestEntry } from './types.js';

export interface RestoreOptions {
  /** Snapshot id; default the newest (or the newest at or before `atMs`). */
  snapshot?: string;
  atMs?: number;
  /** Folder to restore into (created when missing). */
  to: string;
  /** Only this path (absolute as backed up, or archive-relative) and what is under it. */
  path?: string;
  signal?: AbortSignal;
}

export interface RestoreResult {
  snapshot: string;
  time: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/** Picks the snapshot to restore: by id, else the newest at or before `atMs`, else the newest. */
export function pickSnapshot(all: readonly Manifest[], o: { snapshot?: string; atMs?: number }): Manifest {
  if (all.length === 0) throw new OpsError('OPS_ERR_BACKUP_NO_SNAPSHOT', 'the target holds no committed snapshot of this set');
  if (o.snapshot) {
    const m = all.find((s) => s.id === o.snapshot);
    if (!m) throw new OpsError('OPS_ERR_BACKUP_NO_SNAPSHOT', `no snapshot "${o.snapshot}" (restore --list shows them)`);
    return m;
  }
  if (o.atMs !== undefined) {
    const before = all.filter((s) => s.time_ms <= o.atMs!);
    if (before.length === 0) throw new OpsError('OPS_ERR_BACKUP_NO_SNAPSHOT', `no snapshot at or before ${new Date(o.atMs).toISOString()} (the oldest is ${all[0]!.time})`);
    return before[before.length - 1]!;
  }
  return all[all.length - 1]!;
}

/** The tree at snapshot `chain[last]`: path → entry and the snapshot whose archive holds it. */
export function treeAt(chain: readonly Manifest[]): Map<string, { e: ManifestEntry; from: string }> {
  const tree = new Map<string, { e: ManifestEntry; from: string }>();
  for (const m of chain) {
    if (m.type === 'full') tree.clear();
    for (const d of m.deleted) {
      safeRelPath(d, `manifest ${m.id} deleted`);
      tree.delete(d);
      const prefix = `${d}/`;
      for (const p of tree.keys()) if (p.startsWith(prefix)) tree.delete(p);
    }
    for (const e of m.entries) {
      safeRelPath(e.path, `manifest ${m.id}`);
      if (e.type !== 'file' && e.type !== 'dir' && e.type !== 'symlink') throw new OpsError('OPS_ERR_BACKUP_MANIFEST', `manifest ${m.id}: ${e.path} has unknown type ${String(e.type)}`);
      tree.set(e.path, { e, from: m.id });
    }
  }
  return tree;
}

/**
 * Restores a snapshot into `to`: resolves its chain (full + incrementals), streams each needed
 * archive once, writes only the final version of each path, verifies every file's sha256 and
 * each archive's sha256, and refuses any entry that would land outside `to`.
 */
export async function restoreSnapshot(target: BackupTarget, o: RestoreOptions): Promise<RestoreResult> {
  const all = await listSnapshots(target);
  const m = pickSnapshot(all, o);
  const chain = chainOf(m, new Map(all.map((s) => [s.id, s])));
  const tree = treeAt(chain);
  const sub = o.path ? toArchivePath(o.path) : '';
  const wanted = new Map<string, { e: ManifestEntry; from: string }>();
  for (const [p, v] of tree) if (!sub || p === sub || p.startsWith(`${sub}/`)) wanted.set(p, v);
  if (sub && wanted.size === 0) throw new OpsError('OPS_ERR_BACKUP_NO_PATH', `snapshot ${m.id} holds nothing at ${sub}`);

  await mkdir(o.to, { recursive: true });
  const root = await realpath(o.to);
  const dirs = new SafeDirs(root);
  const result: RestoreResult = { snapshot: m.id, time: m.time, files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const dirMeta: ManifestEntry[] = [];

  for (const snap of chain) {
    const needed = new Set<string>();
    for (const [p, v] of wanted) if (v.from === snap.id) needed.add(p);
    if (needed.size === 0) continue;
    const done = new Set<string>();
    const bad = new Map<string, string>();
    const reader = new TarReader(async (h: TarHeader): Promise<EntrySink | null> => {
      safeRelPath(h.path, `archive ${snap.id}`);
      if (!needed.has(h.path)) return null;
      const want = wanted.get(h.path)!.e;
      if (want.type !== h.type) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', `archive ${snap.id}: ${h.path} is a ${h.type}, the manifest says ${want.type}`);
      const slash = h.path.lastIndexOf('/');
      if (slash > 0) await dirs.ensure(h.path.slice(0, slash));
      const dest = join(root, h.path);
      if (h.type === 'dir') {
        await dirs.ensure(h.path);
        dirMeta.push(want);
        done.add(h.path);
        result.dirs++;
        return null;
      }
      if (h.type === 'symlink') {
        await rmNonDir(dest, h.path);
        await symlink(want.link ?? h.linkname ?? '', dest);
        await lutimes(dest, want.mtime_ms / 1000, want.mtime_ms / 1000).catch(() => undefined);
        done.add(h.path);
        result.symlinks++;
        return null;
      }
      return fileSink(dest, want, (ok, got) => {
        if (ok) {
          if (!done.has(h.path)) {
            result.files++;
            result.bytes += want.size;
          }
          done.add(h.path);
          bad.delete(h.path);
        } else bad.set(h.path, got);
      });
    });
    const archiveHash = createHash('sha256');
    const stream = await target.get(archiveName(snap.id));
    const gunzip = createGunzip();
    stream.on('data', (c: Buffer) => archiveHash.update(c));
    stream.on('error', (err) => gunzip.destroy(err));
    stream.pipe(gunzip);
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        if (o.signal?.aborted) throw new OpsError('OPS_ERR_BACKUP_ABORTED', 'restore aborted');
        await reader.push(chunk);
      }
      await reader.end();
    } catch (err) {
      stream.destroy();
      // Whatever broke (gzip, a tar header, a path check), the operator needs the archive's name.
      if (err instanceof OpsError && (err.code === 'OPS_ERR_BACKUP_ABORTED' || err.message.startsWith(`archive ${snap.id}`))) throw err;
      const code = err instanceof OpsError ? err.code : 'OPS_ERR_BACKUP_ARCHIVE';
      throw new OpsError(code, `archive ${snap.id}: ${(err as Error).message}`, { cause: err });
    }
    const gotSha = archiveHash.digest('hex');
    if (gotSha !== snap.archive.sha256) throw new OpsError('OPS_ERR_BACKUP_CHECKSUM', `archive ${snap.id} has sha256 ${gotSha.slice(0, 12)}…, its manifest says ${snap.archive.sha256.slice(0, 12)}…`);
    for (const [p, got] of bad) throw new OpsError('OPS_ERR_BACKUP_CHECKSUM', `${p} in snapshot ${snap.id}: content sha256 ${got.slice(0, 12)}… does not match the manifest`);
    for (const p of needed) if (!done.has(p)) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', `archive ${snap.id} lacks ${p}, which its manifest lists`);
  }
  // Folder modes and times last (writing files into them changed their mtime), deepest first.
  for (const d of dirMeta.sort((a, b) => b.path.length - a.path.length)) {
    const abs = join(root, d.path);
    await chmod(abs, d.mode || 0o755).catch(() => undefined);
    await utimes(abs, d.mtime_ms / 1000, d.mtime_ms / 1000).catch(() => undefined);
  }
  return result;
}

async function rmNonDir(dest: string, rel: string): Promise<void> {
  try {
    const st = await lstat(dest);
    if (st.isDirectory()) throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `${rel} exists as a folder; refusing to replace it`);
    await rm(dest, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Writes to a temp file beside `dest`, hashing; renamed over `dest` only when the sha256 matches. */
function fileSink(dest: string, want: ManifestEntry, report: (ok: boolean, got: string) => void): Promise<EntrySink> {
  const tmp = `${dest}.opsfleet-restore-${process.pid}`;
  let fh: FileHandle | undefined;
  const hash: Hash = createHash('sha256');
  return (async () => {
    await rm(tmp, { force: true });
    fh = await open(tmp, 'wx', 0o600);
    return {
      write: async (c: Buffer) => {
        hash.update(c);
        await fh!.write(c);
      },
      end: async () => {
        await fh!.close();
        const got = hash.digest('hex');
        if (got !== want.sha256) {
          await rm(tmp, { force: true });
          report(false, got);
          return;
        }
        await chmod(tmp, want.mode);
        await utimes(tmp, want.mtime_ms / 1000, want.mtime_ms / 1000);
        await rename(tmp, dest);
        report(true, got);
      },
    };
  })();
}

