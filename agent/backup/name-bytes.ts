import { isUtf8 } from 'node:buffer';

/**
 * Linux file names are bytes: anything but "/" and NUL, valid UTF-8 or not. JavaScript strings
 * are UTF-16, so a name that is not valid UTF-8 cannot pass through `toString('utf8')` without
 * loss. Backups keep names as strings everywhere (manifests are JSON, Maps key on them) using
 * the surrogateescape scheme Python uses for the same problem: valid UTF-8 decodes as usual and
 * each byte of an invalid sequence becomes the lone surrogate U+DC80..U+DCFF. Valid UTF-8 never
 * decodes to a lone surrogate, so the mapping is one-to-one and every name round-trips exactly;
 * JSON.stringify writes lone surrogates as `\udcXX` escapes, which JSON.parse reads back.
 */

/** The name of raw bytes (surrogate-escaped where they are not valid UTF-8). */
export function nameFromBytes(b: Buffer): string {
  if (isUtf8(b)) return b.toString('utf8');
  let out = '';
  let i = 0;
  let start = 0;
  while (i < b.length) {
    const n = seqLen(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (start < i) out += b.toString('utf8', start, i);
    out += String.fromCharCode(0xdc00 + b[i]!);
    i++;
    start = i;
  }
  if (start < b.length) out += b.toString('utf8', start);
  return out;
}

/** Length of the valid UTF-8 sequence at `i`, 0 when the byte there starts none. */
function seqLen(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf; // U+D800..U+DFFF are not characters
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

// eslint-disable-next-line no-control-regex
const SURROGATE = /[\ud800-\udfff]/;

/** The bytes of a name; null when it holds a lone surrogate that no byte maps to (not a name we wrote). */
export function bytesOfName(s: string): Buffer | null {
  if (!SURROGATE.test(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= 0xd800 && c <= 0xdfff) {
      if (c < 0xdc80 || c > 0xdcff) return null;
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.of(c - 0xdc00));
    } else run += ch;
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/** What to hand to node:fs for a name: the string itself unless it needs its exact bytes. */
export function fsPath(s: string): string | Buffer {
  if (!SURROGATE.test(s)) return s;
  const b = bytesOfName(s);
  if (!b) throw new TypeError(`not a file name: ${JSON.stringify(s)}`);
  return b;
}

/** A name for people and logs: JSON-quoted (control characters and escaped bytes stay visible). */
export function showName(s: string): string {
  return JSON.stringify(s);
}
