import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, readSync, type Stats } from 'node:fs';
import type { FileCheckpoint } from './checkpoint-store.js';
import { prefixHash } from './fingerprint.js';

/**
 * One line handed on by TailedFile.visit(): its text is buf[s, e) (newline and a CR before it
 * left out; cut lines end at max_line_bytes), valid only during the call; start and end are
 * file offsets as in RawLine.
 */
export type LineVisitor = (buf: Buffer, s: number, e: number, start: number, end: number, truncated: boolean) => void;

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
  /** The file's size when last looked at (poll or file-system event): a smaller size later is a truncation. */
  seenSize = 0;
  /**
   * The size was seen going down between two polls (a watch event caught it): truncated even if
   * it has grown past the read position again with the same head by the next poll.
   */
  sawShrink = false;
  /** This file's deletion already explained a vanished rotated name (it is read through its descriptor). */
  goneExplained = false;
  private buf: Buffer;
  /** Decided from the head at the first read (and again after a truncation). */
  private enc: TextEncoding | undefined;
  /** Bytes of byte-order mark at offset 0, never part of a line. */
  private bom = 0;

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

  /** Records a size seen now; remembers a shrink until the truncation is handled. True on a new shrink. */
  noteSize(size: number): boolean {
    const shrank = !this.sawShrink && (size < this.seenSize || size < this.readPos);
    if (shrank) this.sawShrink = true;
    this.seenSize = size;
    return shrank;
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
    this.enc = undefined;
    this.bom = 0;
    this.sawShrink = false;
    this.seenSize = 0;
  }

  /**
   * Reads complete lines from readPos, at most maxLines/maxBytes. An unterminated last line is
   * left for the next read (the writer is mid-line) unless `final` (the file will not grow).
   * A line longer than maxLineBytes is cut, flagged, and its remainder skipped. Stops after
   * about maxBytes of line text, so one round's memory is bounded whatever the line lengths.
   * UTF-16 files (by their BOM) are split on whole 16-bit newlines and decoded; offsets stay
   * byte offsets.
   */
  read(size: number, maxLines: number, final = false, maxBytes = 8 << 20): RawLine[] {
    const out: RawLine[] = [];
    this.visit(size, maxLines, final, maxBytes, (buf, s, e, start, end, truncated) => {
      out.push({ text: this.decode(buf, s, e), start, end, truncated });
    });
    return out;
  }

  /**
   * read() without a string or an object per line: hands each line's bytes, in place in the
   * read buffer, to `fn` (the agent's hot path counts most lines from their bytes). The same
   * lines, offsets, cuts and limits as read(); returns how many lines were handed on.
   */
  visit(size: number, maxLines: number, final: boolean, maxBytes: number, fn: LineVisitor): number {
    if (this.fd === undefined) return 0;
    if (this.enc === undefined && !this.detectEncoding(size, final)) return 0;
    const enc = this.enc!;
    if (this.readPos < this.bom) {
      this.readPos = this.bom;
      this.skipping = false;
    }
    const w = enc.width;
    // A cut never splits a 16-bit unit.
    const maxLine = this.maxLineBytes - (this.maxLineBytes % w);
    const buf = this.buf;
    let count = 0;
    let bytes = 0;
    while (count < maxLines && bytes < maxBytes && this.readPos < size) {
      const want = Math.min(buf.length, size - this.readPos);
      const n = readSync(this.fd, buf, 0, want, this.readPos);
      if (n === 0) break;
      const base = this.readPos;
      let pos = 0;
      while (pos < n && count < maxLines && bytes < maxBytes) {
        const nl = enc.findNewline(buf, pos, n);
        if (nl === -1) break;
        if (this.skipping) {
          this.skipping = false;
        } else {
          const len = nl - pos;
          const cut = len > maxLine;
          let endText = cut ? pos + maxLine : nl;
          if (!cut && endText - pos >= w && enc.isCr(buf, endText - w)) endText -= w;
          fn(buf, pos, endText, base + pos, base + nl + w, cut);
          count++;
          bytes += endText - pos;
        }
        pos = nl + w;
      }
      if (pos < n && count < maxLines && bytes < maxBytes) {
        // No newline in the rest of the buffer.
        const restLen = n - pos;
        if (this.skipping) {
          pos = n - (restLen % w);
        } else if (restLen > maxLine) {
          fn(buf, pos, pos + maxLine, base + pos, base + n, true);
          count++;
          this.skipping = true;
          pos = n - (restLen % w);
        } else if (final && base + n >= size) {
          fn(buf, pos, n, base + pos, base + n, false);
          count++;
          pos = n;
        }
      }
      this.readPos = base + pos;
      if (pos === 0) break;
    }
    return count;
  }

  /** The text of bytes [s, e) of a buffer visit() handed on, in the file's encoding. */
  decode(buf: Buffer, s: number, e: number): string {
    return this.enc!.decode(buf, s, e);
  }

  /** The file is UTF-8 (or ASCII): a line's bytes are its text (visit() callers may scan them). */
  get utf8(): boolean {
    return this.enc === UTF8;
  }

  /**
   * Decides the encoding from the head: a BOM (UTF-16 LE/BE, UTF-8), or UTF-16 text without one
   * (ASCII in every other byte). False while the head is too short to tell and more may come.
   */
  private detectEncoding(size: number, final: boolean): boolean {
    const head = Buffer.alloc(4);
    const got = size > 0 ? readSync(this.fd!, head, 0, Math.min(4, size), 0) : 0;
    const b = head.subarray(0, got);
    if (got >= 2 && b[0] === 0xff && b[1] === 0xfe) [this.enc, this.bom] = [UTF16LE, 2];
    else if (got >= 2 && b[0] === 0xfe && b[1] === 0xff) [this.enc, this.bom] = [UTF16BE, 2];
    else if (got >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) [this.enc, this.bom] = [UTF8, 3];
    else if (got < 4 && !final && (got === 0 || b[0] === 0xff || b[0] === 0xfe || b[0] === 0xef || b[0] === 0 || b[1] === 0)) return false;
    else if (got >= 4 && b[0] !== 0 && b[1] === 0 && b[2] !== 0 && b[3] === 0) [this.enc, this.bom] = [UTF16LE, 0];
    else if (got >= 4 && b[0] === 0 && b[1] !== 0 && b[2] === 0 && b[3] !== 0) [this.enc, this.bom] = [UTF16BE, 0];
    else [this.enc, this.bom] = [UTF8, 0];
    return true;
  }

  /** How the file's text is encoded (after the first read), for status and tests. */
  get encoding(): string | undefined {
    return this.enc?.name;
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

/** How lines are found and decoded in one encoding; `width` is the size of one code unit. */
interface TextEncoding {
  name: 'utf8' | 'utf16le' | 'utf16be';
  width: 1 | 2;
  /** Index of the first byte of the first newline in buf[from, to), or -1; `from` is unit-aligned. */
  findNewline(buf: Buffer, from: number, to: number): number;
  isCr(buf: Buffer, at: number): boolean;
  decode(buf: Buffer, from: number, to: number): string;
}

const UTF8: TextEncoding = {
  name: 'utf8',
  width: 1,
  findNewline: (buf, from, to) => {
    const i = buf.indexOf(10, from);
    return i !== -1 && i < to ? i : -1;
  },
  isCr: (buf, at) => buf[at] === 13,
  decode: (buf, from, to) => buf.toString('utf8', from, to),
};

/** Byte 0x0A also occurs inside other UTF-16 units (U+0A00..U+0AFF, U+xx0A): only an aligned 0x000A is a newline. */
const UTF16LE: TextEncoding = {
  name: 'utf16le',
  width: 2,
  findNewline: (buf, from, to) => {
    for (let i = buf.indexOf(10, from); i !== -1 && i + 1 < to; i = buf.indexOf(10, i + 1)) if ((i - from) % 2 === 0 && buf[i + 1] === 0) return i;
    return -1;
  },
  isCr: (buf, at) => buf[at] === 13 && buf[at + 1] === 0,
  decode: (buf, from, to) => buf.toString('utf16le', from, to - ((to - from) % 2)),
};

const UTF16BE: TextEncoding = {
  name: 'utf16be',
  width: 2,
  findNewline: (buf, from, to) => {
    for (let i = buf.indexOf(10, from + 1); i !== -1 && i < to; i = buf.indexOf(10, i + 1)) if ((i - from) % 2 === 1 && buf[i - 1] === 0) return i - 1;
    return -1;
  },
  isCr: (buf, at) => buf[at] === 0 && buf[at + 1] === 13,
  decode: (buf, from, to) => Buffer.from(buf.subarray(from, to - ((to - from) % 2))).swap16().toString('utf16le'),
};
