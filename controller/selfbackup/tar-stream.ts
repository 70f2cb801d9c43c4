import { OpsError } from '../../shared/errors.js';

/**
 * The few tar (ustar) pieces a controller backup needs: regular files only, names up to 255
 * bytes. The archive is plain `.tar.gz`, so `tar tzf` lists it and `tar xzf` unpacks it by
 * hand when this program is not at hand.
 */
const BLOCK = 512;

export interface TarEntry {
  name: string;
  size: number;
  mode: number;
  mtimeMs: number;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

export function tarHeader(e: TarEntry): Buffer {
  const b = Buffer.alloc(BLOCK);
  let name = e.name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new OpsError('OPS_ERR_CTL_BACKUP', `path too long for the archive: ${e.name}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  b.write(name, 0, 100, 'utf8');
  b.write(octal(e.mode & 0o7777, 8), 100, 'ascii');
  b.write(octal(0, 8), 108, 'ascii');
  b.write(octal(0, 8), 116, 'ascii');
  b.write(octal(e.size, 12), 124, 'ascii');
  b.write(octal(Math.floor(e.mtimeMs / 1000), 12), 136, 'ascii');
  b.write('        ', 148, 'ascii');
  b.write('0', 156, 'ascii');
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  b.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return b;
}

export const tarPadding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
export const TAR_END = Buffer.alloc(BLOCK * 2);

function parseHeader(b: Buffer, where: string): TarEntry {
  const str = (off: number, len: number) => {
    const s = b.subarray(off, off + len);
    const z = s.indexOf(0);
    return s.subarray(0, z < 0 ? len : z).toString('utf8');
  };
  const num = (off: number, len: number) => {
    const t = str(off, len).trim();
    return t ? parseInt(t, 8) : 0;
  };
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  if (sum !== num(148, 8)) throw new OpsError('OPS_ERR_CTL_BACKUP_DAMAGED', `${where}: a tar header fails its checksum (the archive is damaged)`);
  const type = str(156, 1);
  if (type !== '0' && type !== '') throw new OpsError('OPS_ERR_CTL_BACKUP_DAMAGED', `${where}: unexpected tar entry type "${type}" (not a controller backup)`);
  const prefix = str(345, 155);
  const name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
  return { name, size: num(124, 12), mode: num(100, 8), mtimeMs: num(136, 12) * 1000 };
}

export interface EntryHandler {
  data(chunk: Buffer): Promise<void> | void;
  end(): Promise<void> | void;
}

/** Reads a tar stream, handing each entry's bytes to the handler `open` returns. */
export async function readTar(src: AsyncIterable<Buffer>, open: (e: TarEntry) => EntryHandler | Promise<EntryHandler>, where: string): Promise<number> {
  let pending: Buffer = Buffer.alloc(0);
  let entry: { h: EntryHandler; left: number; pad: number } | undefined;
  let entries = 0;
  let ended = false;
  for await (const chunk of src) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      if (ended) break;
      if (entry) {
        if (entry.left > 0) {
          if (pending.length === 0) break;
          const take = Math.min(entry.left, pending.length);
          await entry.h.data(pending.subarray(0, take));
          pending = pending.subarray(take);
          entry.left -= take;
          if (entry.left > 0) break;
        }
        if (pending.length < entry.pad) break;
        pending = pending.subarray(entry.pad);
        await entry.h.end();
        entry = undefined;
      }
      if (pending.length < BLOCK) break;
      const block = pending.subarray(0, BLOCK);
      pending = pending.subarray(BLOCK);
      if (block.every((x) => x === 0)) {
        ended = true;
        break;
      }
      const e = parseHeader(block, where);
      entries++;
      entry = { h: await open(e), left: e.size, pad: tarPadding(e.size).length };
    }
  }
  if (entry || !ended) throw new OpsError('OPS_ERR_CTL_BACKUP_DAMAGED', `${where}: the archive ends early (truncated)`);
  return entries;
}
