import { LEVELS } from './levels.js';
import { normalizeLevel } from './levels.js';

// The hot path of `opsctl logs analyze` on Buffers, without a string per line: the template key
// of a message is masked byte by byte into one reused buffer (the same rules as `maskedKey` in
// template-miner.ts, which stays the reference: test/logs/byte-keys.test.ts holds them equal on
// every loghub line) and interned in a hash table of byte strings, so a key becomes a JS string
// once per distinct key per chunk, not once per line. ASCII only: a message with a byte >= 0x80
// makes `maskKeyBytes` answer -1 and the caller takes the string path for that line (UTF-16
// code units and UTF-8 bytes only coincide on ASCII).

/** Longest message prefix that is masked (MAX_KEY_CHARS of template-miner.ts; ASCII: chars = bytes). */
export const MAX_KEY_BYTES = 2000;
/** The masked key of MAX_KEY_BYTES grows at most 3x ("1" → "<*>"); the string path's keys are UTF-8 of up to 2000·3 chars. */
export const KEY_BUF_BYTES = 1 << 15;

// Byte classes, one table lookup instead of a chain of comparisons.
const DIGIT = 1;
const LETTER = 2;
const HEX_LETTER = 4;
const WORD = 8; // [0-9A-Za-z_]
const TOKEN = 16; // WORD and . : -
const SPACE_LIKE = 32; // space \t , ) ] ; " '
const STOP = 64; // where the scan stops: a digit, "/" or a byte >= 0x80
const BLANK = 128; // space and tab: maskedKey collapses their runs
const CLASS = new Uint8Array(256);
CLASS[32] |= BLANK;
CLASS[9] |= BLANK;
for (let c = 48; c <= 57; c++) CLASS[c] |= STOP;
CLASS[47] |= STOP;
for (let c = 128; c < 256; c++) CLASS[c] |= STOP;
for (let c = 48; c <= 57; c++) CLASS[c] |= DIGIT | WORD | TOKEN;
for (let c = 65; c <= 90; c++) CLASS[c] |= LETTER | WORD | TOKEN;
for (let c = 97; c <= 122; c++) CLASS[c] |= LETTER | WORD | TOKEN;
for (const c of [65, 66, 67, 68, 69, 70, 97, 98, 99, 100, 101, 102]) CLASS[c] |= HEX_LETTER;
CLASS[95] |= WORD | TOKEN;
for (const c of [46, 58, 45]) CLASS[c] |= TOKEN;
for (const c of [32, 9, 44, 41, 93, 59, 34, 39]) CLASS[c] |= SPACE_LIKE;

/** ASCII whitespace as JS `trim`/`\s` know it: \t \n \v \f \r and space. */
export const isAsciiSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

function putMask(out: Uint8Array, o: number): number {
  out[o] = 60; // <
  out[o + 1] = 42; // *
  out[o + 2] = 62; // >
  return o + 3;
}

/**
 * Masks message bytes [s, e) into `out` from 0 (templateOf, then blanks collapsed and trimmed as
 * maskedKey does). Returns the key's length, or -1 when the message is not pure ASCII.
 * `e - s` must be at most MAX_KEY_BYTES.
 *
 * One pass: bytes are copied as they are scanned, and a token that turns out to be masked is
 * taken back from the output (nothing is masked between `last` and `i`, so input position x
 * sits at output position o - (i - x)). Blanks that need collapsing (a tab, two spaces, a space
 * at either end) are noticed on the way, so the usual key needs no second look.
 */
export function maskKeyBytes(b: Uint8Array, s: number, e: number, out: Uint8Array): number {
  let o = 0;
  let last = s;
  let i = s;
  let odd = false;
  for (;;) {
    let c = 0;
    for (; i < e; i++) {
      c = b[i]!;
      const k = CLASS[c]!;
      if ((k & (STOP | BLANK)) !== 0) {
        if ((k & STOP) !== 0) break;
        if (c === 9 || o === 0 || out[o - 1] === 32) odd = true;
      }
      out[o++] = c;
    }
    if (i >= e) break;
    if (c >= 128) return -1;
    const prev = i > s ? b[i - 1]! : 32;
    if (c === 47) {
      // A path: "/a/b..." at a token start, up to the next space-like character.
      if ((CLASS[prev]! & WORD) === 0 && prev !== 46 && i + 1 < e && (CLASS[b[i + 1]!]! & WORD) !== 0) {
        let j = i + 1;
        let slashes = 1;
        for (; j < e; j++) {
          const d = b[j]!;
          if (d >= 128) return -1;
          if ((CLASS[d]! & SPACE_LIKE) !== 0) break;
          if (d === 47) slashes++;
        }
        if (slashes >= 2) {
          o = putMask(out, o);
          last = i = j;
          continue;
        }
      }
      out[o++] = 47;
      i++;
      continue;
    }
    if ((CLASS[prev]! & LETTER) !== 0) {
      // A digit inside a word: a long hex id is masked whole, a name ("workers2") kept.
      let ws = i - 1;
      while (ws > last && (CLASS[b[ws - 1]!]! & WORD) !== 0) ws--;
      let we = i;
      while (we < e && (CLASS[b[we]!]! & WORD) !== 0) we++;
      let hex = we - ws >= 12;
      for (let k = ws; hex && k < we; k++) if ((CLASS[b[k]!]! & (DIGIT | HEX_LETTER)) === 0) hex = false;
      if (hex) {
        o = putMask(out, o - (i - ws));
        last = we;
      } else for (let k = i; k < we; k++) out[o++] = b[k]!;
      i = we;
      continue;
    }
    let start = i;
    if (prev === 45 && (i - s < 2 || (CLASS[b[i - 2]!]! & LETTER) === 0 || b[i - 2] === 95)) start = i - 1;
    let j = i;
    let letters = false;
    let nonHexLetter = false;
    for (; j < e; j++) {
      const d = b[j]!;
      const k = CLASS[d]!;
      if ((k & TOKEN) === 0) break;
      if ((k & LETTER) !== 0) {
        letters = true;
        if ((k & HEX_LETTER) === 0) nonHexLetter = true;
      }
    }
    while (j > i + 1 && (CLASS[b[j - 1]!]! & WORD) === 0) j--;
    let end = j;
    if (letters) {
      const hexId = !nonHexLetter && j - i >= 8;
      const hexLiteral = c === 48 && i + 1 < e && (b[i + 1]! | 32) === 120;
      if (!hexId && !hexLiteral) {
        end = i;
        for (;;) {
          if (end >= j) break;
          const d = b[end]!;
          if (d >= 48 && d <= 57) {
            end++;
            continue;
          }
          if ((d === 46 || d === 58 || d === 44) && end + 1 < j && b[end + 1]! >= 48 && b[end + 1]! <= 57) {
            end++;
            continue;
          }
          break;
        }
      }
    }
    o = putMask(out, o - (i - start));
    last = end;
    i = end;
    // The rest of the word stays as it is (no blanks in it).
    while (i < j && (CLASS[b[i]!]! & WORD) !== 0) out[o++] = b[i++]!;
  }
  // Blanks: collapse runs of spaces/tabs and trim (maskedKey's split(/[ \t]+/)).
  if (!odd && (o === 0 || out[o - 1] !== 32)) {
    lastHash = hashBytes(out, o);
    return o;
  }
  let w = 0;
  let pendingSpace = false;
  for (let k = 0; k < o; k++) {
    const d = out[k]!;
    if (d === 32 || d === 9) {
      if (w > 0) pendingSpace = true;
      continue;
    }
    if (pendingSpace) {
      out[w++] = 32;
      pendingSpace = false;
    }
    out[w++] = d;
  }
  lastHash = hashBytes(out, w);
  return w;
}

/** hashBytes of the key maskKeyBytes wrote last (computed in its final pass). */
export let lastHash = 0;

/**
 * FNV-1a style over bytes [0, n), two bytes per step (half the multiply chain of one per byte;
 * the table compares the bytes on a hash match, so this only spreads keys).
 */
export function hashBytes(b: Uint8Array, n: number): number {
  let h = 0x811c9dc5 ^ n;
  let i = 0;
  for (; i + 1 < n; i += 2) h = Math.imul(h ^ (b[i]! | (b[i + 1]! << 8)), 0x01000193);
  if (i < n) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h ^ (h >>> 15);
}

/**
 * Interns byte strings: `find` gives the index of a key added before (or -1), `add` stores a new
 * one. Open addressing on a power-of-two table kept at most half full; the keys live in one
 * growing byte arena. `reset` keeps the memory for the next chunk.
 */
export class ByteKeyTable {
  private slots = new Int32Array(1 << 12);
  private hashes = new Int32Array(1 << 11);
  private offs = new Int32Array(1 << 11);
  private lens = new Int32Array(1 << 11);
  private arena = new Uint8Array(1 << 16);
  private used = 0;
  size = 0;

  reset(): void {
    this.slots.fill(0);
    this.size = 0;
    this.used = 0;
  }

  find(k: Uint8Array, n: number, h: number): number {
    const mask = this.slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const v = this.slots[s]!;
      if (v === 0) return -1;
      const idx = v - 1;
      if (this.hashes[idx] === h && this.lens[idx] === n) {
        const off = this.offs[idx]!;
        const a = this.arena;
        let i = 0;
        while (i < n && a[off + i] === k[i]) i++;
        if (i === n) return idx;
      }
    }
  }

  add(k: Uint8Array, n: number, h: number): number {
    if ((this.size + 1) * 2 > this.slots.length) this.grow();
    const idx = this.size++;
    if (idx >= this.hashes.length) {
      const cap = this.hashes.length * 2;
      this.hashes = grown(this.hashes, cap);
      this.offs = grown(this.offs, cap);
      this.lens = grown(this.lens, cap);
    }
    if (this.used + n > this.arena.length) {
      const a = new Uint8Array(Math.max(this.arena.length * 2, this.used + n));
      a.set(this.arena.subarray(0, this.used));
      this.arena = a;
    }
    this.arena.set(k.subarray(0, n), this.used);
    this.hashes[idx] = h;
    this.offs[idx] = this.used;
    this.lens[idx] = n;
    this.used += n;
    this.place(idx, h);
    return idx;
  }

  private place(idx: number, h: number): void {
    const mask = this.slots.length - 1;
    let s = h & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = idx + 1;
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    for (let i = 0; i < this.size; i++) this.place(i, this.hashes[i]!);
  }
}

function grown(a: Int32Array, cap: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(cap);
  b.set(a);
  return b;
}

/** Index of a level in LEVELS; NONE_LEVEL for a line without one. */
export const NONE_LEVEL = LEVELS.length;

/**
 * Level tokens by their bytes: a small direct-mapped cache (tokens of up to 6 bytes packed into
 * two small integers, no allocation) filled from the one mapping table (normalizeLevel) the
 * first time each token is seen. -1: not a level.
 */
const LV_SLOTS = 256;
const lvLo = new Int32Array(LV_SLOTS).fill(-1);
const lvHi = new Int32Array(LV_SLOTS);
const lvVal = new Int8Array(LV_SLOTS);
export function levelIndexOfBytes(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  if (n <= 0) return -1;
  if (n > 6) return levelIndexOf(latin1(b, s, e));
  let lo = n;
  let hi = 0;
  for (let i = s; i < s + 3; i++) lo = (lo << 8) | (i < e ? b[i]! : 0);
  for (let i = s + 3; i < s + 6; i++) hi = (hi << 8) | (i < e ? b[i]! : 0);
  const slot = (lo ^ Math.imul(hi, 31) ^ (lo >>> 13)) & (LV_SLOTS - 1);
  if (lvLo[slot] === lo && lvHi[slot] === hi) return lvVal[slot]!;
  const v = levelIndexOf(latin1(b, s, e));
  lvLo[slot] = lo;
  lvHi[slot] = hi;
  lvVal[slot] = v;
  return v;
}

function levelIndexOf(raw: string): number {
  const l = normalizeLevel(raw);
  return l ? LEVELS.indexOf(l) : -1;
}

export function latin1(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1');
}
