import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OpsError } from '../../shared/errors.js';

/**
 * Checks a path read from a manifest or an archive before anything is written: relative, no
 * "..", ".", empty or NUL parts. Anything else could escape the restore folder.
 */
export function safeRelPath(p: unknown, what: string): string {
  if (typeof p !== 'string' || p === '' || p.startsWith('/') || p.includes('\0') || p.includes('\\')) {
    throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `${what}: refusing entry ${JSON.stringify(p)}: absolute or empty path`);
  }
  for (const part of p.split('/')) {
    if (part === '..' || part === '.' || part === '') throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `${what}: refusing entry ${JSON.stringify(p)}: it escapes the restore folder`);
  }
  return p;
}

/**
 * Creates the folders of `rel` under `root` one component at a time and refuses when any
 * existing component is a symlink or not a folder: a restored (or planted) symlink must never
 * redirect later writes outside `root`.
 */
export class SafeDirs {
  private readonly known = new Set<string>(['']);
  constructor(private readonly root: string) {}

  async ensure(relDir: string): Promise<void> {
    if (this.known.has(relDir)) return;
    const parts = relDir.split('/');
    let cur = '';
    for (const part of parts) {
      cur = cur ? `${cur}/${part}` : part;
      if (this.known.has(cur)) continue;
      const abs = join(this.root, cur);
      try {
        const st = await lstat(abs);
        if (st.isSymbolicLink()) throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `refusing to write through symlink ${cur} (it could lead outside the restore folder)`);
        if (!st.isDirectory()) throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `${cur} exists and is not a folder`);
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
