import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { relative, sep } from 'node:path';
import picomatch from 'picomatch';
import type { LocalState } from './local-state.js';
import { fsPath, nameFromBytes } from './name-bytes.js';
import { partProblem, pathProblem } from './safe-path.js';
import type { ManifestEntry } from './types.js';

/** Archive path of an absolute path: without the leading "/". */
export function toArchivePath(abs: string): string {
  return abs.replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * Exclude patterns: a pattern without "/" matches a name at any depth (`*.swp`), one with "/"
 * matches the path relative to its watched root (`**\/cache/**`, `logs/*.gz`).
 */
export class Excluder {
  private readonly base: (s: string) => boolean;
  private readonly full: (s: string) => boolean;

  constructor(
    private readonly roots: readonly string[],
    patterns: readonly string[],
  ) {
    const basePats = patterns.filter((p) => !p.includes('/'));
    const fullPats = patterns.filter((p) => p.includes('/'));
    this.base = basePats.length ? picomatch(basePats, { dot: true }) : () => false;
    this.full = fullPats.length ? picomatch(fullPats, { dot: true }) : () => false;
  }

  /** The watched root holding `abs`, or undefined when it is outside every root. */
  rootOf(abs: string): string | undefined {
    return this.roots.find((r) => abs === r || abs.startsWith(r.endsWith(sep) ? r : r + sep));
  }

  excluded(abs: string): boolean {
    const root = this.rootOf(abs);
    if (!root) return true;
    if (abs === root) return false;
    const rel = relative(root, abs);
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    return this.base(name) || this.full(rel);
  }
}

/** lstat of one path as an entry (symlinks are recorded, never followed); null when gone or not a file/dir/link. */
export async function statEntry(abs: string): Promise<ManifestEntry | null> {
  return statEntrySync(abs);
}

/** Sync lstat: a thread-pool round trip per entry made walking 100,000 files several times slower; walk() yields the loop. */
function statEntrySync(abs: string): ManifestEntry | null {
  let st;
  try {
    st = lstatSync(fsPath(abs));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
  const base = { path: toArchivePath(abs), size: 0, mtime_ms: Math.floor(st.mtimeMs), mode: st.mode & 0o7777 };
  if (st.isFile()) return { ...base, type: 'file', size: st.size, ...(st.nlink > 1 ? { ino: `${st.dev}:${st.ino}` } : {}) };
  if (st.isDirectory()) return { ...base, type: 'dir' };
  if (st.isSymbolicLink()) {
    try {
      return { ...base, type: 'symlink', link: nameFromBytes(readlinkSync(fsPath(abs), { encoding: 'buffer' })) };
    } catch {
      return null;
    }
  }
  return null; // sockets, fifos, devices are not backed up
}

/** Walks a folder (not following symlinks) and returns its entries, the folder itself first. */
export async function walk(absDir: string, ex: Excluder, onError?: (path: string, err: Error) => void): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  const topRel = toArchivePath(absDir);
  const topWhy = topRel === '' ? null : pathProblem(topRel); // "/" itself has no name to check
  if (topWhy) {
    onError?.(absDir, new Error(`unusable name: ${topWhy}`));
    return out;
  }
  const top = await statEntry(absDir);
  if (!top) return out;
  out.push(top);
  if (top.type !== 'dir') return out;
  const stack = [absDir];
  let lastYield = performance.now();
  while (stack.length) {
    const dir = stack.pop()!;
    if (performance.now() - lastYield > 10) {
      await yieldToLoop();
      lastYield = performance.now();
    }
    let names: Buffer[];
    try {
      // As bytes: a name that is not valid UTF-8 must reach lstat and the archive unchanged.
      names = readdirSync(fsPath(dir), { encoding: 'buffer' });
    } catch (err) {
      onError?.(dir, err as Error);
      continue;
    }
    for (const raw of names) {
      const name = nameFromBytes(raw);
      const abs = dir === '/' ? `/${name}` : `${dir}/${name}`;
      if (ex.excluded(abs)) continue;
      // The restore's own rule: what it would refuse is reported now, never archived.
      const why = partProblem(name);
      if (why) {
        onError?.(abs, new Error(`unusable name: ${why}`));
        continue;
      }
      let e: ManifestEntry | null;
      try {
        e = statEntrySync(abs);
      } catch (err) {
        onError?.(abs, err as Error);
        continue;
      }
      if (!e) continue;
      out.push(e);
      if (e.type === 'dir') stack.push(abs);
    }
  }
  return out;
}

export function sameEntry(a: ManifestEntry | undefined, b: ManifestEntry): boolean {
  return !!a && a.type === b.type && a.size === b.size && a.mtime_ms === b.mtime_ms && a.mode === b.mode && (a.link ?? '') === (b.link ?? '');
}

export interface Changes {
  changed: ManifestEntry[];
  deleted: string[];
}

/**
 * Compares the tree with the index: the whole tree (`RESCAN_ALL`) or only the given absolute
 * paths (each a file, or a folder walked whole: a renamed folder arrives as one event).
 */
export async function collectChanges(state: LocalState, roots: readonly string[], ex: Excluder, candidates: readonly string[] | 'all', onError?: (path: string, err: Error) => void): Promise<Changes> {
  const changed = new Map<string, ManifestEntry>();
  const deleted = new Set<string>();
  const seen = new Set<string>();
  // Paths that could not be read (a folder's listing, an lstat): what the index has there is
  // unknown, not gone. Taking it as deleted would drop it from every later snapshot.
  const unread: string[] = [];
  const onErr = (path: string, err: Error) => {
    unread.push(toArchivePath(path));
    onError?.(path, err);
  };
  const isUnread = (p: string) => unread.some((u) => p === u || p.startsWith(`${u}/`));
  const visit = async (abs: string) => {
    const found = await walk(abs, ex, onErr);
    const here = new Set<string>();
    for (const e of found) {
      here.add(e.path);
      seen.add(e.path);
      if (!sameEntry(state.get(e.path), e)) changed.set(e.path, e);
    }
    // Whatever the index has under this path and the walk did not find is gone.
    for (const p of state.pathsUnder(toArchivePath(abs))) if (!here.has(p) && !isUnread(p)) deleted.add(p);
  };
  if (candidates === 'all') {
    for (const r of roots) await visit(r);
    const rootPaths = roots.map(toArchivePath);
    // Index entries outside the current roots (a root removed from the config) are deletions.
    for (const p of state.allPaths()) {
      if (!seen.has(p) && !isUnread(p) && !rootPaths.some((r) => p === r || p.startsWith(`${r}/`))) deleted.add(p);
    }
  } else {
    // Only the topmost of nested candidates: a folder walk covers what is under it.
    const sorted = [...new Set(candidates)].filter((c) => ex.rootOf(c) && !ex.excluded(c)).sort();
    let last: string | undefined;
    for (const c of sorted) {
      if (last && (c === last || c.startsWith(`${last}/`))) continue;
      last = c;
      await visit(c);
    }
  }
  // A deleted folder's children need no lines of their own.
  const del = [...deleted].sort();
  const minimal: string[] = [];
  for (const d of del) if (!minimal.length || !(d.startsWith(`${minimal[minimal.length - 1]}/`))) minimal.push(d);
  return { changed: [...changed.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), deleted: minimal };
}
