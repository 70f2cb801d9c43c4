import { createHash, type Hash } from 'node:crypto';
import { closeSync, createWriteStream, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { open, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { createGzip, type Gzip } from 'node:zlib';
import { OpsError } from '../../shared/errors.js';
import { fsPath } from './name-bytes.js';
import { encodeHeader, padding, sparseArchiveSize, sparseMapBlock, TAR_END, type SparseMap } from './tar.js';
import type { ManifestEntry } from './types.js';

/** Files up to this size are read whole and re-read until two stats agree; larger ones stream. */
const WHOLE_READ_MAX = 16 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const READ_ATTEMPTS = 3;
/**
 * Files up to this size are read with synchronous calls: one thread-pool round trip per
 * open/stat/read/stat/close made small files 5-10x slower. The event loop is handed back at
 * least every YIELD_MS so heartbeats and the watcher keep running during a big snapshot.
 */
const SYNC_READ_MAX = 1024 * 1024;
const YIELD_MS = 10;
const COALESCE = 256 * 1024;
/** Holes are found per block of this size (the usual file system block): all zeros = a hole. */
const HOLE_BLOCK = 4096;
/** Smaller files are never archived as sparse (the map would cost more than the zeros). */
const SPARSE_MIN = 64 * 1024;
const ZERO_BLOCK = Buffer.alloc(HOLE_BLOCK);
const ZERO_CHUNK = Buffer.alloc(CHUNK);

export interface ArchiveResult {
  /** Entries as archived (file sizes, mtimes and sha256 as read). */
  entries: ManifestEntry[];
  /** Entries that vanished while archiving (reported as deletions). */
  vanished: string[];
  /** Files that could not be read (EACCES, EIO...): left out, recorded in the manifest, retried next time. */
  unreadable: Array<{ path: string; error: string }>;
  size: number;
  sha256: string;
  /** Bytes of file content archived. */
  bytes: number;
}

/**
 * Writes entries as a gzip-compressed tar to `file`, hashing each file as it is read and the
 * archive as it is written. A file that changes while being read is read again (small files
 * before anything is written; large ones by appending a later copy, which tar extraction and
 * our restore both take as the final version).
 */
export async function writeArchive(file: string, entries: readonly ManifestEntry[], level: number, signal?: AbortSignal): Promise<ArchiveResult> {
  const gz = createGzip({ level, chunkSize: 256 * 1024 });
  const out = createWriteStream(file, { mode: 0o600 });
  const archiveHash = createHash('sha256');
  let size = 0;
  gz.on('data', (c: Buffer) => {
    archiveHash.update(c);
    size += c.length;
    if (!out.write(c)) {
      gz.pause();
      out.once('drain', () => gz.resume());
    }
  });
  const gzEnded = once(gz, 'end');
  const outErr = new Promise<never>((_, rej) => out.once('error', rej));
  outErr.catch(() => undefined);
  const w = new Writer(gz, outErr);

  const done: ManifestEntry[] = [];
  const vanished: string[] = [];
  const unreadable: ArchiveResult['unreadable'] = [];
  // Files with several links, by device:inode: the first path archived carries the content,
  // the others become tar link entries (a restore makes them links again, not copies).
  const links = new Map<string, { path: string; size: number; sha256: string }>();
  let bytes = 0;
  let lastYield = performance.now();
  try {
    for (const e of entries) {
      if (signal?.aborted) throw new OpsError('OPS_ERR_BACKUP_ABORTED', 'snapshot aborted');
      if (performance.now() - lastYield > YIELD_MS) {
        await yieldToLoop();
        lastYield = performance.now();
      }
      try {
        const ino = e.ino;
        const first = ino ? links.get(ino) : undefined;
        const r = first ? await archiveLink(w, e, first) : await archiveEntry(w, e);
        if (r === null) vanished.push(e.path);
        else {
          delete r.ino;
          done.push(r);
          if (r.type === 'file' && !r.hardlink) bytes += r.size;
          if (ino && !first && r.type === 'file' && r.sha256) links.set(ino, { path: r.path, size: r.size, sha256: r.sha256 });
        }
      } catch (err) {
        // One unreadable file must not stop the set: the rest is archived, this one is reported.
        if (!(err instanceof OpsError) || err.code !== 'OPS_ERR_BACKUP_READ') throw err;
        unreadable.push({ path: e.path, error: err.message });
      }
    }
    await w.write(TAR_END);
    await w.flush();
    gz.end();
    await Promise.race([gzEnded, outErr]);
    out.end();
    await Promise.race([once(out, 'finish'), outErr]);
    const fh = await open(file, 'r+');
    await fh.sync().finally(() => fh.close());
  } catch (err) {
    gz.destroy();
    out.destroy();
    throw err;
  }
  return { entries: done, vanished, unreadable, size, sha256: archiveHash.digest('hex'), bytes };
}

/** Archives one entry; null when it vanished. Read failures throw OPS_ERR_BACKUP_READ with the archive still consistent. */
async function archiveEntry(w: Writer, e: ManifestEntry): Promise<ManifestEntry | null> {
  if (e.type === 'file' && e.size <= SYNC_READ_MAX) {
    const small = readSmallSync(`/${e.path}`, e);
    if (small === null) return null;
    if (small !== 'large') {
      await w.write(encodeHeader({ path: e.path, type: 'file', size: small.body.length, mode: small.entry.mode, mtimeMs: small.entry.mtime_ms }));
      if (small.body.length) await w.write(small.body);
      const pad = padding(small.body.length);
      if (pad) await w.write(Buffer.alloc(pad));
      return small.entry;
    }
  }
  if (e.type !== 'file') {
    await w.write(encodeHeader({ path: e.path, type: e.type, size: 0, mode: e.mode, mtimeMs: e.mtime_ms, ...(e.link !== undefined ? { linkname: e.link } : {}) }));
    return e;
  }
  return archiveFile(w, `/${e.path}`, e);
}

/** A second path of an already archived file: a tar link entry, no content (falls back to the content when it is no longer the same file). */
async function archiveLink(w: Writer, e: ManifestEntry, first: { path: string; size: number; sha256: string }): Promise<ManifestEntry | null> {
  let st;
  try {
    st = lstatSync(fsPath(`/${e.path}`));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw readError(`/${e.path}`, err);
  }
  if (!st.isFile() || `${st.dev}:${st.ino}` !== e.ino) {
    delete e.ino;
    return archiveEntry(w, e);
  }
  const entry: ManifestEntry = { path: e.path, type: 'file', size: first.size, mtime_ms: Math.floor(st.mtimeMs), mode: st.mode & 0o7777, sha256: first.sha256, hardlink: first.path };
  await w.write(encodeHeader({ path: e.path, type: 'link', size: 0, mode: entry.mode, mtimeMs: entry.mtime_ms, linkname: first.path }));
  return entry;
}

function readError(abs: string, err: unknown): OpsError {
  if (err instanceof OpsError) return err;
  return new OpsError('OPS_ERR_BACKUP_READ', `cannot read ${JSON.stringify(abs)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
}

/** Coalesces small writes: each gzip write is a thread-pool job, per-header writes were the bottleneck. */
class Writer {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(
    private readonly gz: Gzip,
    private readonly failed: Promise<never>,
  ) {}
  async write(b: Buffer): Promise<void> {
    if (b.length >= COALESCE) {
      await this.flush();
      return this.push(b);
    }
    this.parts.push(b);
    this.size += b.length;
    if (this.size >= COALESCE) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.size === 0) return;
    const b = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    await this.push(b);
  }
  private async push(b: Buffer): Promise<void> {
    if (!this.gz.write(b)) await Promise.race([once(this.gz, 'drain'), this.failed]);
  }
}

/** A small file read whole with sync calls, re-read until two stats agree (at most READ_ATTEMPTS). */
function readSmallSync(abs: string, e: ManifestEntry): { entry: ManifestEntry; body: Buffer } | null | 'large' {
  let fd: number;
  try {
    fd = openSync(fsPath(abs), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw readError(abs, err);
  }
  try {
    return readOpenSmall(fd, e);
  } catch (err) {
    throw readError(abs, err);
  } finally {
    closeSync(fd);
  }
}

function readOpenSmall(fd: number, e: ManifestEntry): { entry: ManifestEntry; body: Buffer } | null | 'large' {
  {
    for (let attempt = 1; ; attempt++) {
      const before = fstatSync(fd);
      if (!before.isFile()) return null;
      if (before.size > SYNC_READ_MAX) return 'large';
      const data = Buffer.allocUnsafe(before.size);
      let off = 0;
      while (off < data.length) {
        const n = readSync(fd, data, off, data.length - off, off);
        if (n === 0) break;
        off += n;
      }
      const after = fstatSync(fd);
      const stable = off === before.size && after.size === before.size && after.mtimeMs === before.mtimeMs;
      if (!stable && attempt < READ_ATTEMPTS) continue;
      const body = data.subarray(0, off);
      // Updated in place: a second copy of 100,000 entries is memory the agent keeps (V8 rarely returns it).
      e.size = body.length;
      e.mtime_ms = Math.floor(before.mtimeMs);
      e.mode = before.mode & 0o7777;
      e.sha256 = createHash('sha256').update(body).digest('hex');
      return { entry: e, body };
    }
  }
}

async function archiveFile(w: Writer, abs: string, e: ManifestEntry): Promise<ManifestEntry | null> {
  let fh: FileHandle;
  try {
    fh = await open(fsPath(abs), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw readError(abs, err);
  }
  try {
    return await archiveOpenFile(w, abs, fh, e);
  } finally {
    await fh.close();
  }
}

async function archiveOpenFile(w: Writer, abs: string, fh: FileHandle, e: ManifestEntry): Promise<ManifestEntry | null> {
  {
    let result: ManifestEntry | null = null;
    for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
      const before = await fh.stat().catch((err: unknown) => Promise.reject(readError(abs, err)));
      if (!before.isFile()) return null;
      const entry: ManifestEntry = { path: e.path, type: 'file', size: before.size, mtime_ms: Math.floor(before.mtimeMs), mode: before.mode & 0o7777 };
      // Fewer blocks allocated than the size needs: it has holes. Archive only its data.
      const map = before.size >= SPARSE_MIN && before.blocks * 512 < before.size ? await dataRegions(fh, before.size, abs) : null;
      if (map) {
        const hash = createHash('sha256');
        await w.write(encodeHeader({ path: e.path, type: 'file', size: before.size, mode: entry.mode, mtimeMs: entry.mtime_ms, sparse: map }));
        await w.write(sparseMapBlock(map));
        let pos = 0;
        let failed: Error | undefined;
        for (const [off, len] of map) {
          hashZeros(hash, off - pos);
          failed ??= await streamBody(w, fh, len, hash, off);
          pos = off + len;
        }
        hashZeros(hash, before.size - pos);
        await w.write(Buffer.alloc(padding(sparseArchiveSize(map))));
        if (failed) throw readError(abs, failed);
        entry.sha256 = hash.digest('hex');
        result = entry;
        const after = await fh.stat();
        if (after.size === before.size && after.mtimeMs === before.mtimeMs) break;
        continue; // changed while read: a fresh copy follows, the last one wins
      }
      if (before.size <= WHOLE_READ_MAX) {
        const data = Buffer.alloc(before.size);
        let off = 0;
        try {
          while (off < data.length) {
            const { bytesRead } = await fh.read(data, off, data.length - off, off);
            if (bytesRead === 0) break;
            off += bytesRead;
          }
        } catch (err) {
          throw readError(abs, err); // nothing of this entry is written yet
        }
        const after = await fh.stat();
        const stable = off === before.size && after.size === before.size && after.mtimeMs === before.mtimeMs;
        if (!stable && attempt < READ_ATTEMPTS) continue;
        // Last attempt on a file still being written: archive what was read, consistently sized.
        const body = data.subarray(0, off);
        entry.size = body.length;
        entry.sha256 = createHash('sha256').update(body).digest('hex');
        await w.write(encodeHeader({ path: e.path, type: 'file', size: body.length, mode: entry.mode, mtimeMs: entry.mtime_ms }));
        await w.write(body);
        await w.write(Buffer.alloc(padding(body.length)));
        return entry;
      }
      const hash = createHash('sha256');
      await w.write(encodeHeader({ path: e.path, type: 'file', size: before.size, mode: entry.mode, mtimeMs: entry.mtime_ms }));
      const failed = await streamBody(w, fh, before.size, hash);
      await w.write(Buffer.alloc(padding(before.size)));
      // The header promised `size` bytes, so they were written (zeros after the failure) and the
      // archive stays readable; the manifest leaves the entry out.
      if (failed) throw readError(abs, failed);
      entry.sha256 = hash.digest('hex');
      result = entry;
      const after = await fh.stat();
      if (after.size === before.size && after.mtimeMs === before.mtimeMs) break;
      // Changed while streamed: append a fresh copy; the last copy of a path wins on extraction.
    }
    return result;
  }
}

/**
 * The data regions of a file with holes: read once, every all-zero HOLE_BLOCK is a hole (what
 * GNU tar does without SEEK_HOLE, which Node does not offer). Null when it has none after all.
 */
async function dataRegions(fh: FileHandle, size: number, abs: string): Promise<SparseMap | null> {
  const map: SparseMap = [];
  const buf = Buffer.alloc(CHUNK);
  let pos = 0;
  while (pos < size) {
    let n: number;
    try {
      ({ bytesRead: n } = await fh.read(buf, 0, Math.min(CHUNK, size - pos), pos));
    } catch (err) {
      throw readError(abs, err);
    }
    if (n === 0) break;
    if (!(n === CHUNK && buf.equals(ZERO_CHUNK))) {
      for (let i = 0; i < n; i += HOLE_BLOCK) {
        const end = Math.min(i + HOLE_BLOCK, n);
        if (buf.subarray(i, end).equals(end - i === HOLE_BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, end - i))) continue;
        const last = map[map.length - 1];
        if (last && last[0] + last[1] === pos + i) last[1] += end - i;
        else map.push([pos + i, end - i]);
      }
    }
    pos += n;
  }
  if (map.length === 1 && map[0]![0] === 0 && map[0]![1] === size) return null;
  // A hole at the end: GNU tar sets the file's size from a last, empty region at the end.
  const last = map[map.length - 1];
  if (!last || last[0] + last[1] < size) map.push([size, 0]);
  return map;
}

function hashZeros(hash: Hash, n: number): void {
  for (let left = n; left > 0; left -= CHUNK) hash.update(left >= CHUNK ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, left));
}

/** Exactly `size` bytes from `start`: zero-padded if the file shrank or a read failed (returned), cut if it grew (the stat check then retries). */
async function streamBody(w: Writer, fh: FileHandle, size: number, hash: Hash, start = 0): Promise<Error | undefined> {
  let pos = 0;
  while (pos < size) {
    const buf = Buffer.alloc(Math.min(CHUNK, size - pos));
    let bytesRead: number;
    let failed: Error | undefined;
    try {
      ({ bytesRead } = await fh.read(buf, 0, buf.length, start + pos));
    } catch (err) {
      failed = err as Error;
      bytesRead = 0;
    }
    if (bytesRead === 0) {
      for (let left = size - pos; left > 0; left -= CHUNK) {
        const zeros = Buffer.alloc(Math.min(CHUNK, left));
        hash.update(zeros);
        await w.write(zeros);
      }
      return failed;
    }
    const part = buf.subarray(0, bytesRead);
    hash.update(part);
    await w.write(part);
    pos += bytesRead;
  }
  return undefined;
}
