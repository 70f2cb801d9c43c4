import { closeSync, readdirSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { prefixHash } from './fingerprint.js';
import { openRegularFile } from './safe-open.js';

export const COMPRESSED = /\.(gz|bz2|xz|zst|lz4|zip)$/;

/**
 * Looks beside `path` for a rotated sibling (`app.log.1`, `app.log-20240101`; compressed ones
 * cannot be tailed and are skipped) whose head hashes to `fp` over `fpLen` bytes and that
 * `accept` takes. Returns it open; the caller owns the descriptor. Used to find the copy a
 * copytruncate left, and a file renamed away while the agent was down.
 */
export function findSibling(path: string, fp: string, fpLen: number, accept: (st: Stats) => boolean, includeSelf = false): { fd: number; path: string; st: Stats } | undefined {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => (includeSelf || n !== base) && n.startsWith(base) && !COMPRESSED.test(n));
  } catch {
    return undefined; // directory gone: nothing to recover from
  }
  for (const n of names) {
    const p = join(dir, n);
    let fd: number | undefined;
    try {
      // A FIFO, socket or device named like the log (app.log.pipe) must never be opened
      // blocking: lstat first, open non-blocking (see safe-open.ts).
      const o = openRegularFile(p, false);
      if ('skip' in o) continue;
      fd = o.fd;
      const st = o.st;
      if (st.size >= fpLen && accept(st) && prefixHash(fd, fpLen) === fp) return { fd, path: p, st };
    } catch {
      // vanished or unreadable: try the next candidate
    }
    if (fd !== undefined) closeSync(fd);
  }
  return undefined;
}
