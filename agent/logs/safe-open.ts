import { closeSync, constants, fstatSync, lstatSync, openSync, statSync, type Stats } from 'node:fs';

/**
 * Opens a log file for reading without ever blocking the agent's event loop on what a user can
 * put in a watched folder. `open()` of a FIFO for reading blocks until a writer appears (forever,
 * usually), and a device can block or have side effects on open, so:
 *  1. the type is checked with lstat (or stat for a path the globs reached through a symlink)
 *     before any open: only regular files are opened;
 *  2. the open itself is O_NONBLOCK (a FIFO swapped in between the check and the open returns at
 *     once instead of blocking) and O_NOCTTY;
 *  3. the descriptor is fstat'ed again and closed unless it is a regular file.
 * Reads of a regular file ignore O_NONBLOCK, so the descriptor is fine for tailing.
 */
export type SafeOpenResult = { fd: number; st: Stats } | { skip: string };

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** What kind of non-regular file `st` is, for the warning. */
export function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'not a regular file';
}

/**
 * Opens `path` if it is a regular file. `followSymlink`: a log path may be a symlink to the real
 * file (the globs follow them); rotated-sibling searches do not follow links. Throws the errno
 * error of lstat/open (ENOENT, EACCES...) for the caller to report.
 */
export function openRegularFile(path: string, followSymlink: boolean): SafeOpenResult {
  const pre = followSymlink ? statSync(path) : lstatSync(path);
  if (!pre.isFile()) return { skip: fileKind(pre) };
  const fd = openSync(path, followSymlink ? FLAGS : FLAGS | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return { skip: fileKind(st) };
    }
    return { fd, st };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
