import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OpsError } from '../../shared/errors.js';
import { bytesOfName, fsPath, nameFromBytes, showName } from './name-bytes.js';

/**
 * THE path rule of backups, used by the builder (what it archives) and by restore and verify
 * (what they accept), so that everything the builder writes is restorable. A path inside an
 * archive is relative: parts separated by "/", none empty, "." or "..", no NUL; every other
 * byte Linux allows in a name (backslash, newline, control characters, invalid UTF-8 held as
 * surrogate escapes, see name-bytes.ts) is fine. Returns why a path breaks the rule, or null.
 */
export function pathProblem(p: unknown): string | null {
  if (typeof p !== 'string' || p === '') return 'empty path';
  if (p.startsWith('/')) return 'absolute path';
  if (p.includes('\0')) return 'NUL in the path';
  for (const part of p.split('/')) {
    const why = partProblem(part);
    if (why) return why;
  }
  const bytes = bytesOfName(p);
  // One spelling per name: an escape that decodes as valid UTF-8 would be a second spelling.
  if (!bytes || nameFromBytes(bytes) !== p) return 'not a file name (a surrogate that stands for no byte)';
  return null;
}

/**
 * The rule for one name (a part between slashes). The builder checks each name it reads from
 * a folder with it (names from readdir are already canonical bytes, so this is all that can
 * fail), the whole path rule above applies it to every part.
 */
export function partProblem(part: string): string | null {
  if (part === '') return 'empty path part ("//" or a trailing "/")';
  if (part === '.' || part === '..') return 'it escapes the restore folder';
  if (part.includes('/')) return 'a "/" inside a name';
  if (part.includes('\0')) return 'NUL in the path';
  return null;
}

/** Throws OPS_ERR_BACKUP_UNSAFE_PATH when `p` breaks the path rule; `what` names where it came from. */
export function safeRelPath(p: unknown, what: string): string {
  const why = pathProblem(p);
  if (why) throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `${what}: refusing entry ${typeof p === 'string' ? showName(p) : String(p)}: ${why}`);
  return p as string;
}

/**
 * Creates the folders of `rel` under `root` one component at a time and refuses when any
 * existing component is a symlink or not a folder: a restored (or planted) symlink must never
 * redirect later writes outside `root`.
 */
export class SafeDirs {
  private readonly known = new Set<string>(['']);
  /** Folders that existed before the restore (their mode and times are not ours to change). */
  readonly existed = new Set<string>();
  constructor(private readonly root: string) {}

  async ensure(relDir: string): Promise<void> {
    if (this.known.has(relDir)) return;
    const parts = relDir.split('/');
    let cur = '';
    for (const part of parts) {
      cur = cur ? `${cur}/${part}` : part;
      if (this.known.has(cur)) continue;
      const abs = fsPath(join(this.root, cur));
      try {
        const st = await lstat(abs);
        if (st.isSymbolicLink()) throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `refusing to write through symlink ${showName(cur)} (it could lead outside the restore folder)`);
        if (!st.isDirectory()) throw new OpsError('OPS_ERR_BACKUP_NOT_A_FOLDER', `${showName(cur)} exists and is not a folder`);
        this.existed.add(cur);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await mkdir(abs, { mode: 0o755 });
      }
      this.known.add(cur);
    }
  }

  forget(rel: string): void {
    this.known.delete(rel);
  }
}
