import { createHash } from 'node:crypto';
import { chmod, lutimes, mkdir, realpath, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { OpsError } from '../../shared/errors.js';
import { chainOf, listSnapshots } from './catalog.js';
import { fsPath } from './name-bytes.js';
import { RestoreReport, type OverwritePolicy, type RestoreResult } from './restore-report.js';
import { RestoreWriter } from './restore-writer.js';
import { pathProblem, SafeDirs, safeRelPath } from './safe-path.js';
import { toArchivePath } from './scan.js';
import { TarReader, type EntrySink, type TarHeader } from './tar.js';
import { archiveName, type BackupTarget, type Manifest, type ManifestEntry } from './types.js';

export type { OverwritePolicy, RestoreResult } from './restore-report.js';
export { OVERWRITE_POLICIES } from './restore-report.js';

export interface RestoreOptions {
  /** Snapshot id; default the newest (or the newest at or before `atMs`). */
  snapshot?: string;
  atMs?: number;
  /** Folder to restore into (created when missing). */
  to: string;
  /** Only this path (absolute as backed up, or archive-relative) and what is under it. */
  path?: string;
  /** What to do with a file that already exists at its place (default never: keep it). */
  overwrite?: OverwritePolicy;
  signal?: AbortSignal;
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

export type Tree = Map<string, { e: ManifestEntry; from: string }>;

/**
 * The tree at snapshot `chain[last]`: path → entry and the snapshot whose archive holds it.
 * An entry or deletion that breaks the path rule is left out and handed to `bad` (one bad
 * entry never blocks the others); without `bad` it throws.
 */
export function treeAt(chain: readonly Manifest[], bad?: (path: string, code: string, reason: string) => void): Tree {
  const tree: Tree = new Map();
  const refuse = (p: unknown, what: string, code: string, reason: string) => {
    if (!bad) throw new OpsError(code, `${what}: ${reason}`);
    bad(typeof p === 'string' ? p : String(p), code, `${what}: ${reason}`);
  };
  for (const m of chain) {
    if (m.type === 'full') tree.clear();
    for (const d of m.deleted) {
      const why = pathProblem(d);
      if (why) {
        refuse(d, `manifest ${m.id} deleted ${JSON.stringify(d)}`, 'OPS_ERR_BACKUP_UNSAFE_PATH', `refused: ${why}`);
        continue;
      }
      tree.delete(d);
      const prefix = `${d}/`;
      for (const p of tree.keys()) if (p.startsWith(prefix)) tree.delete(p);
    }
    for (const e of m.entries) {
      const why = pathProblem(e.path);
      if (why) {
        refuse(e.path, `manifest ${m.id} entry ${JSON.stringify(e.path)}`, 'OPS_ERR_BACKUP_UNSAFE_PATH', `refused: ${why}`);
        continue;
      }
      if (e.type !== 'file' && e.type !== 'dir' && e.type !== 'symlink') {
        refuse(e.path, `manifest ${m.id}`, 'OPS_ERR_BACKUP_MANIFEST', `${e.path} has unknown type ${String(e.type)}`);
        continue;
      }
      tree.set(e.path, { e, from: m.id });
    }
  }
  return tree;
}

/**
 * Restores a snapshot into `to`: resolves its chain (full + incrementals), streams each needed
 * archive once, writes only the final version of each path, verifies every file's sha256 and
 * each archive's sha256, and refuses any entry that would land outside `to`. An entry that
 * cannot be restored (unsafe name, checksum, a folder in its place, a full disk, a broken
 * archive) is reported in the result and the others are still restored; no temp file is left
 * behind on any path. Throws only when nothing can be decided (no snapshot, broken chain) or
 * when aborted.
 */
export async function restoreSnapshot(target: BackupTarget, o: RestoreOptions): Promise<RestoreResult> {
  const all = await listSnapshots(target);
  const m = pickSnapshot(all, o);
  const chain = chainOf(m, new Map(all.map((s) => [s.id, s])));
  const report = new RestoreReport(m, o.to, o.overwrite ?? 'never');
  const tree = treeAt(chain, (p, code, reason) => report.fail(p, code, reason));
  const sub = o.path ? toArchivePath(o.path) : '';
  if (sub) safeRelPath(sub, '--path');
  const wanted: Tree = new Map();
  for (const [p, v] of tree) if (!sub || p === sub || p.startsWith(`${sub}/`)) wanted.set(p, v);
  if (sub && wanted.size === 0) throw new OpsError('OPS_ERR_BACKUP_NO_PATH', `snapshot ${m.id} holds nothing at ${sub}`);

  await mkdir(o.to, { recursive: true });
  const root = await realpath(o.to);
  const dirs = new SafeDirs(root);
  const writer = new RestoreWriter(root, dirs, report);
  const dirMeta: ManifestEntry[] = [];
  try {
    for (const snap of chain) {
      const needed = new Set<string>();
      for (const [p, v] of wanted) if (v.from === snap.id) needed.add(p);
      if (needed.size === 0) continue;
      await restoreArchive(target, snap, needed, wanted, writer, report, dirMeta, o.signal);
    }
  } finally {
    await writer.cleanup();
  }
  // Folder modes and times last (writing files into them changed their mtime), deepest first.
  // A folder that was there before the restore keeps its own, unless --overwrite always.
  for (const d of dirMeta.sort((a, b) => b.path.length - a.path.length)) {
    if (dirs.existed.has(d.path) && report.overwrite !== 'always') continue;
    const abs = fsPath(join(root, d.path));
    await chmod(abs, d.mode || 0o755).catch(() => undefined);
    await utimes(abs, d.mtime_ms / 1000, d.mtime_ms / 1000).catch(() => undefined);
  }
  return report.result();
}

async function restoreArchive(target: BackupTarget, snap: Manifest, needed: Set<string>, wanted: Tree, writer: RestoreWriter, report: RestoreReport, dirMeta: ManifestEntry[], signal?: AbortSignal): Promise<void> {
  const where = `archive ${snap.id}`;
  // Hard links of this archive, by the path that holds the content: the paths linked to it.
  const groups = new Map<string, string[]>();
  for (const p of needed) {
    const e = wanted.get(p)!.e;
    if (e.type === 'file' && e.hardlink !== undefined) groups.set(e.hardlink, [...(groups.get(e.hardlink) ?? []), p]);
  }
  // The path that got the content of each group (its own, or the first link when that one is not restored).
  const anchors = new Map<string, string>();
  const reader = new TarReader(async (h: TarHeader): Promise<EntrySink | null> => {
    const why = pathProblem(h.path);
    if (why) {
      report.fail(h.path, 'OPS_ERR_BACKUP_UNSAFE_PATH', `${where}: refusing entry ${JSON.stringify(h.path)}: ${why}`);
      return null;
    }
    if (h.type === 'link') {
      const e = needed.has(h.path) ? wanted.get(h.path)!.e : undefined;
      if (e && e.hardlink !== h.linkname) report.fail(h.path, 'OPS_ERR_BACKUP_ARCHIVE', `${where}: ${h.path} is a link to ${JSON.stringify(h.linkname)}, the manifest says ${e.hardlink === undefined ? 'a file' : JSON.stringify(e.hardlink)}`);
      return null; // made after the archive, once its content is in place
    }
    const group = h.type === 'file' ? groups.get(h.path) : undefined;
    if (group && anchors.has(h.path)) {
      // A later copy of the content (re-read while archived): to where the first one went.
      const to = anchors.get(h.path)!;
      return writer.file(to, wanted.get(to)!.e);
    }
    if (group && !needed.has(h.path)) {
      // Its own path is not restored (--path, or a later snapshot replaced it): the first link gets the content.
      const first = group.shift()!;
      anchors.set(h.path, first);
      return writer.file(first, wanted.get(first)!.e);
    }
    if (!needed.has(h.path)) return null;
    const want = wanted.get(h.path)!.e;
    if (want.hardlink !== undefined) {
      report.fail(h.path, 'OPS_ERR_BACKUP_ARCHIVE', `${where}: ${h.path} has content, the manifest says it is a link to ${JSON.stringify(want.hardlink)}`);
      return null;
    }
    if (want.type !== h.type) {
      report.fail(h.path, 'OPS_ERR_BACKUP_ARCHIVE', `${where}: ${h.path} is a ${h.type}, the manifest says ${want.type}`);
      return null;
    }
    if (h.type === 'dir') {
      if (await writer.dir(h.path)) dirMeta.push(want);
      return null;
    }
    if (h.type === 'symlink') {
      const dest = await writer.symlink(h.path, want.link ?? h.linkname ?? '', want.mtime_ms);
      if (dest) await lutimes(dest, want.mtime_ms / 1000, want.mtime_ms / 1000).catch(() => undefined);
      return null;
    }
    const sink = await writer.file(h.path, want);
    if (group) {
      if (sink) anchors.set(h.path, h.path);
      else if (group.length) {
        // Kept by the policy or refused: the links still need the content.
        const first = group.shift()!;
        anchors.set(h.path, first);
        return writer.file(first, wanted.get(first)!.e);
      }
    }
    return sink;
  });
  const archiveHash = createHash('sha256');
  let stream;
  try {
    stream = await target.get(archiveName(snap.id));
  } catch (err) {
    for (const p of needed) if (!report.settled(p)) report.fail(p, err instanceof OpsError ? err.code : 'OPS_ERR_BACKUP_ARCHIVE', `${where} cannot be read: ${(err as Error).message}`);
    return;
  }
  const gunzip = createGunzip();
  stream.on('data', (c: Buffer) => archiveHash.update(c));
  stream.on('error', (err) => gunzip.destroy(err));
  stream.pipe(gunzip);
  let broken: Error | undefined;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (signal?.aborted) throw new OpsError('OPS_ERR_BACKUP_ABORTED', 'restore aborted');
      await reader.push(chunk);
    }
    await reader.end();
  } catch (err) {
    stream.destroy();
    if (err instanceof OpsError && err.code === 'OPS_ERR_BACKUP_ABORTED') throw err;
    // gzip or a tar header broke: the rest of this archive is lost, the other archives are not.
    broken = err as Error;
  }
  if (broken) {
    let lost = 0;
    for (const p of needed) if (!report.settled(p)) lost++;
    report.problem(broken instanceof OpsError ? broken.code : 'OPS_ERR_BACKUP_ARCHIVE', `${where} is damaged: ${broken.message}${lost ? '' : ' (every path it had to give was read before the damage and matched its checksum)'}`);
    for (const p of needed) if (!report.settled(p)) report.fail(p, broken instanceof OpsError ? broken.code : 'OPS_ERR_BACKUP_ARCHIVE', `${where} is damaged: ${broken.message}`);
    return;
  }
  for (const [holder, paths] of groups) {
    const anchor = anchors.get(holder);
    for (const p of paths) {
      if (report.settled(p)) continue;
      if (anchor && report.wrote(anchor)) await writer.hardlink(p, anchor, wanted.get(p)!.e);
      else report.fail(p, 'OPS_ERR_BACKUP_ARCHIVE', `${where}: it is a hard link to ${JSON.stringify(holder)}, whose content was not restored`);
    }
  }
  const gotSha = archiveHash.digest('hex');
  if (gotSha !== snap.archive.sha256) report.problem('OPS_ERR_BACKUP_CHECKSUM', `${where} has sha256 ${gotSha.slice(0, 12)}…, its manifest says ${snap.archive.sha256.slice(0, 12)}… (each restored file matched its own checksum)`);
  for (const p of needed) if (!report.settled(p)) report.fail(p, 'OPS_ERR_BACKUP_ARCHIVE', `${where} lacks ${p}, which its manifest lists`);
}
