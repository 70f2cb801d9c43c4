import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, readSync, type Stats } from 'node:fs';
import type { FileCheckpoint } from './checkpoint-store.js';
import { prefixHash } from './fingerprint.js';

export interface RawLine {
  text: string;
  /** Byte offset of the line's first byte, and just past its newline. */
  start: number;
  end: number;
  truncated: boolean;
}

/**
 * One open file being tailed. `readPos` is how far lines were handed on; `cp.offset` is how far
 * they are durable (advanced by commit()). Reads go through the open descriptor, so a file
 * renamed or deleted by rotation is still read to its end.
 */
export class TailedFile {
  readPos: number;
  private skipping: boolean;
  fd: number | undefined;
  /** Set when the file no longer sits at a matched path (rotated away) or is a rotated copy. */
  rotatedAtMs: number | undefined;
  /** A copytruncate copy being read to its end (never becomes the live file again). */
  isCopy = false;
  eofSinceMs: number | undefined;
  private buf: Buffer;

  constructor(
    readonly cp: FileCheckpoint,
    fd: number,
    private readonly fingerprintBytes: number,
    private readonly maxLineBytes: number,
  ) {
    this.fd = fd;
    this.readPos = cp.offset;
    this.skipping = cp.skipping ?? false;
    this.buf = Buffer.allocUnsafe(Math.max(256 * 1024, maxLineBytes + 1));
  }

  /** Builds a fresh identity for an open file; offset is where reading starts. */
  static fresh(fd: number, path: string, st: Stats, offset: 'start' | 'end', fingerprintBytes: number, maxLineBytes: number): TailedFile {
    const fpLen = Math.min(st.size, fingerprintBytes);
    const cp: FileCheckpoint = {
      key: randomBytes(6).toString('hex'),
      fp: prefixHash(fd, fpLen)!,
      fpLen,
      dev: st.dev,
      ino: st.ino,
      path,
      offset: offset === 'end' ? st.size : 0,
      seenMs: Date.now(),
    };
    return new TailedFile(cp, fd, fingerprintBytes, maxLineBytes);
  }

  stat(): Stats | undefined {
    if (this.fd === undefined) return undefined;
    return fstatSync(this.fd);
  }

  /** Grows the fingerprint while the file is shorter than fingerprint_bytes. */
  refreshFingerprint(size: number): void {
    if (this.fd === undefined || this.cp.fpLen >= this.fingerprintBytes || size <= this.cp.fpLen) return;
    const len = Math.min(size, this.fingerprintBytes);
    const h = prefixHash(this.fd, len);
    if (h) {
      this.cp.fp = h;
      this.cp.fpLen = len;
    }
  }

  /** Whether the head of the open file still hashes to the checkpoint's fingerprint. */
  headMatches(): boolean {
    if (this.fd === undefined) return false;
    return prefixHash(this.fd, this.cp.fpLen) === this.cp.fp;
  }

  /** Starts over at offset 0 with a fresh identity (the file was truncated in place). */
  resetAfterTruncate(): void {
    this.cp.key = randomBytes(6).toString('hex');
    this.cp.offset = 0;
    this.cp.fpLen = 0;
    this.cp.fp = prefixHash(this.fd!, 0)!;
    this.cp.skipping = false;
    this.readPos = 0;
    this.skipping = false;
    this.eofSinceMs = undefined;
  }

  /**
   * Reads complete lines from readPos, at most maxLines/maxBytes. An unterminated last line is
   * left for the next read (the writer is mid-line) unless `final` (the file will not grow).
   * A line longer than maxLineBytes is cut, flagged, and its remainder skipped. Stops after
   * about maxBytes of line text, so one round's memory is bounded whatever the line lengths.
   */
  read(size: number, maxLines: number, final = false, maxBytes = 8 << 20): RawLine[] {
    const out: RawLine[] = [];
    if (this.fd === undefined) return out;
    let bytes = 0;
    while (out.length < maxLines && bytes < maxBytes && this.readPos < size) {
      const want = Math.min(this.buf.length, size - this.readPos);
      const n = readSync(this.fd, this.buf, 0, want, this.readPos);
      if (n === 0) break;
      let pos = 0;
      while (pos < n && out.length < maxLines && bytes < maxBytes) {
        const nl = this.buf.indexOf(10, pos);
        if (nl === -1 || nl >= n) break;
        if (this.skipping) {
          this.skipping = false;
        } else {
          const len = nl - pos;
          const cut = len > this.maxLineBytes;
          let endText = cut ? pos + this.maxLineBytes : nl;
          if (!cut && endText > pos && this.buf[endText - 1] === 13) endText--;
          out.push({ text: this.buf.toString('utf8', pos, endText), start: this.readPos + pos, end: this.readPos + nl + 1, truncated: cut });
          bytes += endText - pos;
        }
        pos = nl + 1;
      }
      if (pos < n && out.length < maxLines && bytes < maxBytes) {
        // No newline in the rest of the buffer.
        const restLen = n - pos;
        if (this.skipping) {
          pos = n;
        } else if (restLen > this.maxLineBytes) {
          out.push({ text: this.buf.toString('utf8', pos, pos + this.maxLineBytes), start: this.readPos + pos, end: this.readPos + n, truncated: true });
          this.skipping = true;
          pos = n;
        } else if (final && this.readPos + n >= size) {
          out.push({ text: this.buf.toString('utf8', pos, n), start: this.readPos + pos, end: this.readPos + n, truncated: false });
          pos = n;
        }
      }
      this.readPos += pos;
      if (pos === 0) break;
    }
    return out;
  }

  /** The checkpoint as it will be once the lines up to `offset` are durable (nothing changes). */
  committedCp(offset: number, nowMs: number): FileCheckpoint {
    return { ...this.cp, offset, skipping: offset === this.readPos ? this.skipping : false, seenMs: nowMs };
  }

  /** The lines up to `offset` are durable: move the checkpoint. */
  commit(offset: number, nowMs: number): void {
    Object.assign(this.cp, this.committedCp(offset, nowMs));
  }

  /** Forget what was read but not committed (the outbox write failed). */
  rewind(): void {
    this.readPos = this.cp.offset;
    this.skipping = this.cp.skipping ?? false;
  }

  close(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
  }
}
