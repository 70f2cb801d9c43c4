import { createHash, type Hash } from 'node:crypto';
import { chmod, link, lstat, open, rename, rm, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OpsError } from '../../shared/errors.js';
import { fsPath } from './name-bytes.js';
import type { RestoreReport } from './restore-report.js';
import type { SafeDirs } from './safe-path.js';
import type { EntrySink } from './tar.js';
import type { ManifestEntry } from './types.js';

const ZEROS = Buffer.alloc(1024 * 1024);

const codeOf = (err: unknown, fallback: string) => (err instanceof OpsError ? err.code : fallback);
const msgOf = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/**
 * Writes restored entries under `root`, one at a time, each failure reported for its path and
 * never stopping the others. Files go to a short temp name in their folder (names near 255
 * bytes must still fit), are checked against their sha256 and only then renamed into place.
 * Every temp file is tracked: on every failure path (checksum, full disk, a folder in the way,
 * abort, a damaged archive) it is removed, and cleanup() removes whatever is left.
 */
export class RestoreWriter {
  private readonly temps = new Map<string, FileHandle | undefined>();
  private n = 0;

  constructor(
    private readonly root: string,
    private readonly dirs: SafeDirs,
    private readonly report: RestoreReport,
  ) {}

  private async parentOk(rel: string): Promise<boolean> {
    const slash = rel.lastIndexOf('/');
    if (slash <= 0) return true;
    try {
      await this.dirs.ensure(rel.slice(0, slash));
      return true;
    } catch (err) {
      this.report.fail(rel, codeOf(err, 'OPS_ERR_BACKUP_WRITE'), `its folder cannot be made: ${(err as Error).message}`);
      return false;
    }
  }

  /** A folder; false when it could not be made (reported). */
  async dir(rel: string): Promise<boolean> {
    try {
      await this.dirs.ensure(rel);
      this.report.restored(rel, 'dir', 0, false);
      return true;
    } catch (err) {
      this.report.fail(rel, codeOf(err, 'OPS_ERR_BACKUP_WRITE'), (err as Error).message);
      return false;
    }
  }

  /**
   * Applies the overwrite policy to what is at `dest` now: 'new' (nothing there), 'replace', or
   * null when the path is kept or refused (reported). A folder where a file or link goes is never
   * replaced: removing a tree is not what restoring one file means.
   */
  private async decide(rel: string, dest: string, wantMtimeMs: number, what: string): Promise<'new' | 'replace' | null> {
    let st;
    try {
      st = await lstat(fsPath(dest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'new';
      this.report.fail(rel, 'OPS_ERR_BACKUP_WRITE', `cannot check what is at its place: ${msgOf(err)}`);
      return null;
    }
    if (st.isDirectory()) {
      this.report.fail(rel, 'OPS_ERR_BACKUP_NOT_A_FILE', `a folder stands where this ${what} goes; left as it is`);
      return null;
    }
    if (this.report.wrote(rel)) return 'replace'; // our own earlier copy of this path
    const p = this.report.overwrite;
    if (p === 'always' || (p === 'older' && Math.floor(st.mtimeMs) < wantMtimeMs)) return 'replace';
    this.report.kept(rel);
    return null;
  }

  /** A symlink (never followed); returns its path for lutimes, or null when not written (reported). */
  async symlink(rel: string, target: string, mtimeMs: number): Promise<string | Buffer | null> {
    if (!(await this.parentOk(rel))) return null;
    const dest = join(this.root, rel);
    const how = await this.decide(rel, dest, mtimeMs, 'symlink');
    if (!how) return null;
    // A new name beside it, then rename: the old entry stays until the link is in place.
    const tmp = this.tempName(dest);
    try {
      this.temps.set(tmp, undefined);
      await symlink(fsPath(target), fsPath(tmp));
      await rename(fsPath(tmp), fsPath(dest));
      this.temps.delete(tmp);
      this.report.restored(rel, 'symlink', 0, how === 'replace');
      return fsPath(dest);
    } catch (err) {
      await this.drop(tmp);
      this.report.fail(rel, 'OPS_ERR_BACKUP_WRITE', `cannot create the symlink: ${msgOf(err)}`);
      return null;
    }
  }

  /** A hard link at `rel` to the already restored `anchorRel`; false when not made (reported). */
  async hardlink(rel: string, anchorRel: string, want: ManifestEntry): Promise<boolean> {
    if (!(await this.parentOk(rel))) return false;
    const dest = join(this.root, rel);
    const how = await this.decide(rel, dest, want.mtime_ms, 'file');
    if (!how) return false;
    const tmp = this.tempName(dest);
    try {
      this.temps.set(tmp, undefined);
      await link(fsPath(join(this.root, anchorRel)), fsPath(tmp));
      await rename(fsPath(tmp), fsPath(dest));
      // rename() between two links of one file does nothing and leaves the old name: remove it.
      await this.drop(tmp);
      this.report.restored(rel, 'hardlink', 0, how === 'replace');
      return true;
    } catch (err) {
      await this.drop(tmp);
      this.report.fail(rel, 'OPS_ERR_BACKUP_WRITE', `cannot create the hard link to ${JSON.stringify(anchorRel)}: ${msgOf(err)}`);
      return false;
    }
  }

  /** A sink for a file's content (holes arrive as `hole(n)`), or null when the file is not written (reported). */
  async file(rel: string, want: ManifestEntry): Promise<EntrySink | null> {
    if (!(await this.parentOk(rel))) return null;
    const dest = join(this.root, rel);
    const how = await this.decide(rel, dest, want.mtime_ms, 'file');
    if (!how) return null;
    const tmp = this.tempName(dest);
    let fh: FileHandle;
    try {
      this.temps.set(tmp, undefined);
      fh = await open(fsPath(tmp), 'wx', 0o600);
      this.temps.set(tmp, fh);
    } catch (err) {
      await this.drop(tmp);
      this.report.fail(rel, 'OPS_ERR_BACKUP_WRITE', `cannot create a file in its folder: ${msgOf(err)}`);
      return null;
    }
    const hash: Hash = createHash('sha256');
    let pos = 0;
    let failed: unknown;
    return {
      write: async (c: Buffer) => {
        hash.update(c);
        if (failed) return;
        try {
          let off = 0;
          while (off < c.length) off += (await fh.write(c, off, c.length - off, pos + off)).bytesWritten;
        } catch (err) {
          failed = err; // e.g. ENOSPC: the rest of the archive still gets read for the other entries
        }
        pos += c.length;
      },
      hole: async (len: number) => {
        for (let left = len; left > 0; left -= ZEROS.length) hash.update(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
        pos += len; // never written: the file keeps the hole
      },
      end: async () => {
        try {
          if (failed) throw failed;
          await fh.truncate(pos); // a hole at the end has no data after it to set the size
          await fh.close();
          this.temps.set(tmp, undefined);
          const got = hash.digest('hex');
          if (got !== want.sha256) {
            await this.drop(tmp);
            this.report.fail(rel, 'OPS_ERR_BACKUP_CHECKSUM', `content sha256 ${got.slice(0, 12)}… does not match the manifest`);
            return;
          }
          await chmod(fsPath(tmp), want.mode);
          await utimes(fsPath(tmp), want.mtime_ms / 1000, want.mtime_ms / 1000);
          await rename(fsPath(tmp), fsPath(dest));
          this.temps.delete(tmp);
          this.report.restored(rel, 'file', want.size, how === 'replace');
        } catch (err) {
          await this.drop(tmp);
          this.report.fail(rel, 'OPS_ERR_BACKUP_WRITE', `cannot write it: ${msgOf(err)}`);
        }
      },
    };
  }

  private tempName(dest: string): string {
    return join(dirname(dest), `.opsfleet-restore-${process.pid}-${++this.n}`);
  }

  private async drop(tmp: string): Promise<void> {
    const fh = this.temps.get(tmp);
    this.temps.delete(tmp);
    await fh?.close().catch(() => undefined);
    await rm(fsPath(tmp), { force: true }).catch(() => undefined);
  }

  /** Removes every temp file still around (an abort, a damaged archive in the middle of an entry). */
  async cleanup(): Promise<void> {
    for (const tmp of [...this.temps.keys()]) await this.drop(tmp);
  }
}
