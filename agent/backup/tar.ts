import { isUtf8 } from 'node:buffer';
import { OpsError } from '../../shared/errors.js';
import { bytesOfName, nameFromBytes } from './name-bytes.js';

/**
 * A minimal POSIX tar (ustar + pax extended headers) writer and streaming reader. Our own so
 * the archive format is exactly what docs/backup.md promises (GNU tar and bsdtar extract it)
 * and the reader can refuse dangerous entries before a single byte is written.
 */

/** `link`: a hard link to an earlier member of the same archive (`linkname`), no content. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'link';

export interface TarHeader {
  path: string;
  type: TarEntryType;
  /** Files: the content size (of a sparse file: its full size, holes included). */
  size: number;
  mode: number;
  mtimeMs: number;
  linkname?: string;
  /** A sparse file: its data regions; everything else is a hole (zeros never stored). */
  sparse?: SparseMap;
}

/** Data regions of a sparse file, ascending, non-overlapping: [offset, length]. */
export type SparseMap = Array<[number, number]>;

const BLOCK = 512;
const TYPE_FLAG: Record<TarEntryType, string> = { file: '0', dir: '5', symlink: '2', link: '1' };

function octal(buf: Buffer, value: number, offset: number, length: number): void {
  buf.write(`${Math.floor(value).toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function rawHeader(name: Buffer, flag: string, size: number, mode: number, mtimeS: number, linkname: Buffer): Buffer {
  const b = Buffer.alloc(BLOCK);
  name.copy(b, 0, 0, Math.min(name.length, 100));
  octal(b, mode & 0o7777, 100, 8);
  octal(b, 0, 108, 8);
  octal(b, 0, 116, 8);
  octal(b, size, 124, 12);
  octal(b, Math.max(0, mtimeS), 136, 12);
  b.fill(' ', 148, 156);
  b.write(flag, 156, 1, 'ascii');
  linkname.copy(b, 157, 0, Math.min(linkname.length, 100));
  b.write('ustar\0', 257, 6, 'ascii');
  b.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return b;
}

/** Printable ASCII under 100 bytes goes in the ustar field; anything else in a pax record. */
function fits(b: Buffer): boolean {
  if (b.length >= 100) return false;
  for (const c of b) if (c < 0x20 || c > 0x7e) return false;
  return true;
}

function nameBytes(s: string, what: string): Buffer {
  const b = bytesOfName(s);
  if (!b) throw new OpsError('OPS_ERR_BACKUP_UNSAFE_PATH', `${what} ${JSON.stringify(s)} is not a file name`);
  return b;
}

/** The header block(s) of one entry: a pax header first when a name or size does not fit ustar. */
export function encodeHeader(h: TarHeader): Buffer {
  const real = nameBytes(h.type === 'dir' && !h.path.endsWith('/') ? `${h.path}/` : h.path, 'path');
  // GNU sparse 1.0 (pax): the member is named GNUSparseFile.0/<name> for readers that do not
  // know the format; GNU.sparse.name carries the real name, realsize the size with the holes.
  const name = h.sparse ? Buffer.from(`GNUSparseFile.0/${String(real.toString('latin1').split('/').pop()).replace(/[^\x20-\x7e]/g, '_').slice(0, 60)}`) : real;
  const size = h.type === 'file' ? (h.sparse ? sparseArchiveSize(h.sparse) : h.size) : 0;
  const mtimeS = Math.floor(h.mtimeMs / 1000);
  const link = nameBytes(h.linkname ?? '', 'link target');
  const pax: Buffer[] = [];
  // Names are bytes: say so when they are not UTF-8, as GNU tar does, so no reader converts them.
  if ((!fits(real) && !isUtf8(real)) || (!fits(link) && !isUtf8(link))) pax.push(paxRecord('hdrcharset', Buffer.from('BINARY')));
  if (h.sparse) {
    pax.push(paxRecord('GNU.sparse.major', Buffer.from('1')), paxRecord('GNU.sparse.minor', Buffer.from('0')));
    pax.push(paxRecord('GNU.sparse.name', real), paxRecord('GNU.sparse.realsize', Buffer.from(String(h.size))));
  }
  if (!fits(name)) pax.push(paxRecord('path', name));
  if (!fits(link)) pax.push(paxRecord('linkpath', link));
  if (size >= 8 ** 11) pax.push(paxRecord('size', Buffer.from(String(size))));
  const ustarName = fits(name) ? name : Buffer.from(Array.from(name.subarray(0, 99), (c) => (c < 0x20 || c > 0x7e ? 0x5f : c)));
  const main = rawHeader(ustarName, TYPE_FLAG[h.type], size >= 8 ** 11 ? 0 : size, h.mode, mtimeS, fits(link) ? link : Buffer.alloc(0));
  if (pax.length === 0) return main; // the common case: one 512-byte header (mtime in seconds; the manifest keeps ms)
  const paxBody = Buffer.concat(pax);
  const paxHead = rawHeader(Buffer.from('PaxHeader'), 'x', paxBody.length, 0o644, mtimeS, Buffer.alloc(0));
  return Buffer.concat([paxHead, paxBody, Buffer.alloc(padding(paxBody.length)), main]);
}

/** The map block that starts a sparse member's body: "count\n" then "offset\nlength\n" per region, padded to 512. */
export function sparseMapBlock(map: SparseMap): Buffer {
  const text = Buffer.from(`${map.length}\n${map.map(([o, l]) => `${o}\n${l}\n`).join('')}`);
  return Buffer.concat([text, Buffer.alloc(padding(text.length))]);
}

/** Bytes of a sparse member's body in the archive: its map block and its data regions. */
export function sparseArchiveSize(map: SparseMap): number {
  return sparseMapBlock(map).length + map.reduce((n, [, l]) => n + l, 0);
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(BLOCK * 2);

export interface EntrySink {
  write(chunk: Buffer): void | Promise<void>;
  /** `length` zero bytes that the archive stores as a hole (sparse files); default: written as zeros. */
  hole?(length: number): void | Promise<void>;
  end(): Promise<void>;
}

/**
 * Push parser: feed it the decompressed stream with `push`, it calls `onEntry` for each entry
 * (return a sink to receive the body, or null to skip it). Awaiting `push` gives backpressure.
 */
export class TarReader {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'header' | 'body' | 'pax' | 'done' = 'header';
  private remaining = 0;
  private pad = 0;
  private sink: EntrySink | null = null;
  private pax: Record<string, Buffer> = {};
  private paxChunks: Buffer[] = [];
  private zeroBlocks = 0;
  private gnuLong: 'path' | 'linkpath' | undefined;

  constructor(private readonly onEntry: (h: TarHeader) => Promise<EntrySink | null>) {}

  async push(chunk: Buffer): Promise<void> {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.state === 'done') return;
      if (this.state === 'header') {
        if (this.buf.length < BLOCK) return;
        const block = this.buf.subarray(0, BLOCK);
        this.buf = this.buf.subarray(BLOCK);
        if (block.every((b) => b === 0)) {
          if (++this.zeroBlocks >= 2) this.state = 'done';
          continue;
        }
        this.zeroBlocks = 0;
        await this.header(block);
        continue;
      }
      // body or pax: hand over what is available of `remaining`, then skip the padding.
      if (this.remaining > 0) {
        if (this.buf.length === 0) return;
        const n = Math.min(this.remaining, this.buf.length);
        const part = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.state === 'pax') this.paxChunks.push(Buffer.from(part));
        else if (this.sink) await this.sink.write(part);
        if (this.remaining > 0) return;
      }
      if (this.buf.length < this.pad) {
        this.pad -= this.buf.length;
        this.buf = Buffer.alloc(0);
        return;
      }
      this.buf = this.buf.subarray(this.pad);
      this.pad = 0;
      if (this.state === 'pax') {
        const data = Buffer.concat(this.paxChunks);
        if (this.gnuLong) {
          let end = data.length;
          while (end > 0 && data[end - 1] === 0) end--;
          this.pax = { ...this.pax, [this.gnuLong]: data.subarray(0, end) };
        } else this.pax = { ...this.pax, ...parsePax(data) };
        this.gnuLong = undefined;
      }
      else if (this.sink) await this.sink.end();
      this.sink = null;
      this.state = 'header';
    }
  }

  /** Throws when the archive ended in the middle of an entry. */
  async end(): Promise<void> {
    if (this.state === 'body' || this.state === 'pax') throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', 'archive truncated in the middle of an entry');
  }

  private async header(b: Buffer): Promise<void> {
    const sum = parseOctal(b, 148, 8);
    let calc = 0;
    for (let i = 0; i < BLOCK; i++) calc += i >= 148 && i < 156 ? 32 : b[i]!;
    if (sum !== calc) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', 'tar header checksum mismatch (corrupt archive)');
    const flag = String.fromCharCode(b[156]!);
    let size = parseOctal(b, 124, 12);
    if (flag === 'L' || flag === 'K') {
      // GNU tar's long name / long link entries (what `tar czf` writes by default).
      this.state = 'pax';
      this.paxChunks = [];
      this.gnuLong = flag === 'L' ? 'path' : 'linkpath';
      this.remaining = size;
      this.pad = padding(size);
      return;
    }
    if (flag === 'x' || flag === 'g') {
      this.gnuLong = undefined;
      this.state = 'pax';
      this.paxChunks = [];
      this.remaining = size;
      this.pad = padding(size);
      if (flag === 'g') this.pax = {};
      return;
    }
    const pax = this.pax;
    this.pax = {};
    const prefix = cbytes(b, 345, 155);
    let path = nameFromBytes(pax.path ?? (prefix.length ? Buffer.concat([prefix, Buffer.from('/'), cbytes(b, 0, 100)]) : cbytes(b, 0, 100)));
    if (pax.size) size = Number(pax.size.toString('latin1'));
    const type: TarEntryType | undefined = flag === '0' || flag === '\0' ? 'file' : flag === '5' ? 'dir' : flag === '2' ? 'symlink' : flag === '1' ? 'link' : undefined;
    if (type === 'dir') path = path.replace(/\/+$/, '');
    this.state = 'body';
    this.remaining = size;
    this.pad = padding(size);
    if (!type) {
      this.sink = null; // devices, fifos: never written by us, skipped on restore
      return;
    }
    const sparse = type === 'file' && pax['GNU.sparse.major']?.toString('latin1') === '1' && pax['GNU.sparse.name'] !== undefined;
    if (sparse) path = nameFromBytes(pax['GNU.sparse.name']!);
    const realSize = sparse ? Number(pax['GNU.sparse.realsize']?.toString('latin1') ?? NaN) : size;
    if (!Number.isSafeInteger(realSize) || realSize < 0) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', `sparse member ${JSON.stringify(path)} has no valid GNU.sparse.realsize`);
    const mtimeMs = pax.mtime ? Math.round(Number(pax.mtime.toString('latin1')) * 1000) : parseOctal(b, 136, 12) * 1000;
    const linked = type === 'symlink' || type === 'link' ? { linkname: nameFromBytes(pax.linkpath ?? cbytes(b, 157, 100)) } : {};
    const sink = await this.onEntry({ path, type, size: realSize, mode: parseOctal(b, 100, 8), mtimeMs, ...linked });
    this.sink = sink && sparse ? new SparseBody(sink, realSize) : sink;
  }
}

function cbytes(b: Buffer, off: number, len: number): Buffer {
  const s = b.subarray(off, off + len);
  const end = s.indexOf(0);
  return s.subarray(0, end === -1 ? len : end);
}

function parseOctal(b: Buffer, off: number, len: number): number {
  const s = cbytes(b, off, len).toString('latin1').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** pax records are `LEN key=value\n` with LEN counted in bytes; values stay bytes (names may be any bytes). */
function parsePax(data: Buffer): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = Number(data.toString('latin1', i, sp));
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) break;
    const rec = data.subarray(sp + 1, i + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out[rec.toString('utf8', 0, eq)] = Buffer.from(rec.subarray(eq + 1));
    i += len;
  }
  return out;
}

/**
 * The body of a GNU sparse 1.0 member as the entry's sink sees it: the map block is read
 * first, then data regions are handed on with `hole(n)` for the gaps between them (a sink
 * without `hole` gets zeros), so a sink always sees the file's full, logical content.
 */
class SparseBody implements EntrySink {
  private head: Buffer | null = Buffer.alloc(0);
  private map: SparseMap = [];
  private region = 0;
  private pos = 0;

  constructor(
    private readonly inner: EntrySink,
    private readonly realSize: number,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    let c = chunk;
    if (this.head) {
      this.head = Buffer.concat([this.head, c]);
      const parsed = parseSparseMap(this.head);
      if (!parsed) return;
      let end = 0;
      for (const [o, l] of parsed.map) {
        if (o < end || o + l > this.realSize) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', 'sparse map: regions overlap or pass the file size');
        end = o + l;
      }
      this.map = parsed.map;
      c = this.head.subarray(parsed.blockBytes);
      this.head = null;
    }
    while (c.length > 0) {
      const r = this.map[this.region];
      if (!r) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', 'sparse member holds more data than its map');
      const [off, len] = r;
      if (this.pos < off) await this.gap(off - this.pos);
      const take = Math.min(c.length, off + len - this.pos);
      if (take > 0) await this.inner.write(c.subarray(0, take));
      this.pos += take;
      c = c.subarray(take);
      if (this.pos >= off + len) this.region++;
    }
  }

  private async gap(n: number): Promise<void> {
    if (this.inner.hole) await this.inner.hole(n);
    else for (let left = n; left > 0; left -= ZERO_CHUNK.length) await this.inner.write(left >= ZERO_CHUNK.length ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, left));
    this.pos += n;
  }

  async end(): Promise<void> {
    if (this.head) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', 'sparse member ended inside its map');
    if (this.pos < this.realSize) await this.gap(this.realSize - this.pos);
    await this.inner.end();
  }
}

const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

/** The map at the start of a sparse body, or null when more bytes are needed. */
function parseSparseMap(b: Buffer): { map: SparseMap; blockBytes: number } | null {
  const nums: number[] = [];
  let i = 0;
  let want = -1;
  while (want < 0 || nums.length < want) {
    const nl = b.indexOf(0x0a, i);
    if (nl === -1) {
      if (b.length - i > 40) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', 'sparse map: a number longer than any offset');
      return null;
    }
    const n = Number(b.toString('latin1', i, nl));
    if (!Number.isSafeInteger(n) || n < 0) throw new OpsError('OPS_ERR_BACKUP_ARCHIVE', 'sparse map: not a number');
    nums.push(n);
    i = nl + 1;
    if (want < 0) want = 1 + 2 * n;
  }
  const blockBytes = i + padding(i);
  if (b.length < blockBytes) return null;
  const map: SparseMap = [];
  for (let k = 1; k < nums.length; k += 2) map.push([nums[k]!, nums[k + 1]!]);
  return { map, blockBytes };
}
