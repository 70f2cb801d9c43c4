import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';

/** sha1 of the first `len` bytes of an open file; undefined when the file is shorter than that. */
export function prefixHash(fd: number, len: number): string | undefined {
  if (len <= 0) return createHash('sha1').digest('hex');
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, got);
    if (n === 0) break;
    got += n;
  }
  if (got < len) return undefined;
  return createHash('sha1').update(buf).digest('hex');
}
