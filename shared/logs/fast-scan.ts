import { isAsciiSpace, levelIndexOfBytes } from './byte-keys.js';
import type { ParserOptions } from './record.js';
import { compileZone, inferYear, MONTHS, type Zone } from './timestamps.js';

/**
 * What a fast scanner found in one line: the level (index in LEVELS, -1 for none), the event
 * time (NaN for none) and where the message is ([ms, me) in bytes, trimmed as the parser trims).
 * One object, reused for every line.
 */
export interface ScanResult {
  level: number;
  ts: number;
  ms: number;
  me: number;
}

/**
 * A per-format scanner over the bytes of one line (without its newline and CR), for the hot
 * path of `opsctl logs analyze`: byte offsets, no regex, no record object. It answers only
 * when it is sure to agree with the format's regex parser (level, time, message); on anything
 * unusual (a byte >= 0x80 in the header, a time zone suffix, a bracket after the logger, …) it
 * answers false and the caller parses that line with the regular parser. Agreement is pinned
 * line by line by test/logs/fast-scan.test.ts.
 */
export type FastScanner = (b: Uint8Array, s: number, e: number, r: ScanResult) => boolean;

const isDigit = (c: number) => c >= 48 && c <= 57;
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isWordish = (c: number) => isLetter(c) || isDigit(c) || c === 95 || c === 36; /* [\w$] */
/** Where a blank run stops at what \s might also take (\n \v \f \r, or a non-ASCII byte: NBSP…): decline. */
const isOddSpace = (c: number) => (c >= 10 && c <= 13) || c >= 128;

function digits(b: Uint8Array, p: number, n: number, e: number): boolean {
  if (p + n > e) return false;
  for (let i = p; i < p + n; i++) if (!isDigit(b[i]!)) return false;
  return true;
}

/** Number from ASCII digits [p, q). */
function num(b: Uint8Array, p: number, q: number): number {
  let v = 0;
  for (let i = p; i < q; i++) v = v * 10 + b[i]! - 48;
  return v;
}

/** Remembers the time of the last distinct timestamp bytes (consecutive lines share them). */
class TimeCache {
  private prev = new Uint8Array(64);
  private prevLen = -1;
  value = NaN;
  /** True when b[s, e) are the bytes of the last `set`: `value` is their time. */
  same(b: Uint8Array, s: number, e: number): boolean {
    const n = e - s;
    if (n !== this.prevLen) return false;
    const p = this.prev;
    for (let i = 0; i < n; i++) if (p[i] !== b[s + i]) return false;
    return true;
  }
  set(b: Uint8Array, s: number, e: number, value: number): number {
    const n = e - s;
    if (n > this.prev.length) this.prev = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.prev[i] = b[s + i]!;
    this.prevLen = n;
    this.value = value;
    return value;
  }
}

/** fractionMs of timestamps.ts on bytes: the first three digits of [p, q), zero-padded. */
function fracMs(b: Uint8Array, p: number, q: number): number {
  let v = 0;
  for (let i = 0; i < 3; i++) v = v * 10 + (p + i < q ? b[p + i]! - 48 : 0);
  return v;
}

/**
 * Level from a message's own first token ("error: …", "[warn] …", "<E> …"): headerLevel of
 * levels.ts on bytes. -1: none; -2: undecidable here (a non-ASCII byte where \s is tested).
 */
export function headerLevelBytes(b: Uint8Array, s: number, e: number): number {
  if (s >= e) return -1;
  const c = b[s]!;
  const wsOrEnd = (p: number) => (p >= e ? 1 : isAsciiSpace(b[p]!) ? 1 : b[p]! >= 128 ? -2 : 0);
  if (c === 91 || c === 60) {
    const close = c === 91 ? 93 : 62;
    let p = s + 1;
    while (p < e && isLetter(b[p]!)) p++;
    const n = p - s - 1;
    if (n < 1 || n > 13 || p >= e || b[p] !== close) return -1;
    const la = wsOrEnd(p + 1);
    if (la !== 1) return la === -2 ? -2 : -1;
    return levelIndexOfBytes(b, s + 1, p);
  }
  if (!isLetter(c)) return -1;
  let p = s;
  while (p < e && isLetter(b[p]!)) p++;
  const n = p - s;
  if (n < 2 || n > 13) return -1;
  let q: number;
  if (p < e && b[p] === 58) q = p + 1;
  else {
    q = p;
    while (q < e && isAsciiSpace(b[q]!)) q++;
    if (q < e && b[q]! >= 128) return -2;
    if (q >= e || b[q] !== 124) return -1;
    q++;
  }
  const la = wsOrEnd(q);
  if (la !== 1) return la === -2 ? -2 : -1;
  // PostgreSQL's LOG only inside brackets: "Log: …" begins a sentence.
  if (n === 3 && (b[s]! | 32) === 108 && (b[s + 1]! | 32) === 111 && (b[s + 2]! | 32) === 103) return -1;
  return levelIndexOfBytes(b, s, p);
}

/**
 * log4j preset (presets/log4j.ts) for its two commonest time forms: "2024-01-02 03:04:05,123"
 * (optionally in brackets, T or space) and Hadoop's "081109 203615". Other forms decline.
 */
function log4jScanner(zone: Zone, time: boolean): FastScanner {
  const cache = new TimeCache();
  const hours = new TimeCache();
  return (b, s, e, r) => {
    let p = s;
    if (p < e && b[p] === 91) p++;
    const t0 = p;
    let compact = false;
    let f0 = 0;
    let f1 = 0;
    if (digits(b, p, 4, e) && b[p + 4] === 45) {
      if (!(digits(b, p + 5, 2, e) && b[p + 7] === 45 && digits(b, p + 8, 2, e) && (b[p + 10] === 84 || b[p + 10] === 32) && digits(b, p + 11, 2, e) && b[p + 13] === 58 && digits(b, p + 14, 2, e) && b[p + 16] === 58 && digits(b, p + 17, 2, e))) return false;
      p += 19;
      if (p < e && (b[p] === 46 || b[p] === 44)) {
        let q = p + 1;
        while (q < e && isDigit(b[q]!)) q++;
        if (q - p - 1 < 1 || q - p - 1 > 9) return false;
        f0 = p + 1;
        f1 = p = q;
      }
    } else if (digits(b, p, 6, e) && b[p + 6] === 32 && digits(b, p + 7, 6, e)) {
      compact = true;
      p += 13;
      if (p < e && (b[p] === 46 || b[p] === 44)) {
        let q = p + 1;
        while (q < e && isDigit(b[q]!)) q++;
        if (q - p - 1 < 1 || q - p - 1 > 3) return false;
        f0 = p + 1;
        f1 = p = q;
      }
    } else return false;
    const t1 = p;
    if (p < e && b[p] === 93) p++;
    // \s+ then the optional pid and [thread], each followed by \s+.
    let q = p;
    while (q < e && (b[q] === 32 || b[q] === 9)) q++;
    if (q === p || (q < e && isOddSpace(b[q]!))) return false;
    p = q;
    if (p < e && isDigit(b[p]!)) {
      while (p < e && isDigit(b[p]!)) p++;
      q = p;
      while (q < e && (b[q] === 32 || b[q] === 9)) q++;
      if (q === p || (q < e && isOddSpace(b[q]!))) return false;
      p = q;
    }
    if (p < e && b[p] === 91) {
      p++;
      while (p < e && b[p] !== 93) if (b[p++]! >= 128) return false;
      if (p >= e) return false;
      p++;
      q = p;
      while (q < e && (b[q] === 32 || b[q] === 9)) q++;
      if (q === p || (q < e && isOddSpace(b[q]!))) return false;
      p = q;
    }
    // The level word, then \s+.
    const l0 = p;
    while (p < e && isLetter(b[p]!)) p++;
    if (p === l0) return false;
    const level = levelIndexOfBytes(b, l0, p);
    if (level < 0) return false;
    q = p;
    while (q < e && (b[q] === 32 || b[q] === 9)) q++;
    if (q === p || (q < e && isOddSpace(b[q]!))) return false;
    p = q;
    // An optional [thread] after the level: taken only when \s+ follows its "]".
    if (p < e && b[p] === 91) {
      let k = p + 1;
      while (k < e && b[k] !== 93) if (b[k++]! >= 128) return false;
      if (k < e) {
        q = k + 1;
        while (q < e && (b[q] === 32 || b[q] === 9)) q++;
        if (q < e && isOddSpace(b[q]!)) return false;
        if (q > k + 1) p = q;
      }
    }
    // An optional logger ending in ":" or " -", then \s+ or the end.
    let ms = p;
    if (p < e && (isLetter(b[p]!) || b[p] === 95 || b[p] === 36)) {
      let k = p + 1;
      while (k < e && (isWordish(b[k]!) || b[k] === 46)) k++;
      if (k < e && b[k] === 91) return false;
      let after = -1;
      if (k < e && b[k] === 58) after = k + 1;
      else if (k + 1 < e && b[k] === 32 && b[k + 1] === 45) after = k + 2;
      if (after >= 0) {
        if (after >= e) ms = e;
        else {
          q = after;
          while (q < e && (b[q] === 32 || b[q] === 9)) q++;
          if (q < e && isOddSpace(b[q]!)) return false;
          if (q > after) ms = q;
        }
      }
    }
    let me = e;
    while (me > ms && isAsciiSpace(b[me - 1]!)) me--;
    if (me > ms && b[me - 1]! >= 128) return false;
    r.level = level;
    r.ms = ms;
    r.me = me;
    // parseLog4jTime of presets/log4j.ts, from the bytes.
    if (!time) r.ts = NaN;
    else if (cache.same(b, t0, t1)) r.ts = cache.value;
    else if (zone.fixed) {
      // Most lines differ from the last one in their second: the hour ("081109 20",
      // "2024-01-02 03") is converted once, minutes, seconds and millis added (Date.UTC is linear in them).
      const h1 = compact ? t0 + 9 : t0 + 13;
      let base: number;
      if (hours.same(b, t0, h1)) base = hours.value;
      else if (compact) base = hours.set(b, t0, h1, zone.toUtc(2000 + num(b, t0, t0 + 2), num(b, t0 + 2, t0 + 4), num(b, t0 + 4, t0 + 6), num(b, t0 + 7, t0 + 9), 0, 0, 0));
      else {
        const mo = num(b, t0 + 5, t0 + 7);
        const d = num(b, t0 + 8, t0 + 10);
        base = hours.set(b, t0, h1, mo < 1 || mo > 12 || d < 1 || d > 31 ? NaN : zone.toUtc(num(b, t0, t0 + 4), mo, d, num(b, t0 + 11, t0 + 13), 0, 0, 0));
      }
      const m0 = compact ? t0 + 9 : t0 + 14;
      const s0 = compact ? t0 + 11 : t0 + 17;
      r.ts = cache.set(b, t0, t1, base + num(b, m0, m0 + 2) * 60_000 + num(b, s0, s0 + 2) * 1000 + fracMs(b, f0, f1));
    } else if (compact) r.ts = cache.set(b, t0, t1, zone.toUtc(2000 + num(b, t0, t0 + 2), num(b, t0 + 2, t0 + 4), num(b, t0 + 4, t0 + 6), num(b, t0 + 7, t0 + 9), num(b, t0 + 9, t0 + 11), num(b, t0 + 11, t0 + 13), fracMs(b, f0, f1)));
    else {
      const mo = num(b, t0 + 5, t0 + 7);
      const d = num(b, t0 + 8, t0 + 10);
      r.ts = cache.set(b, t0, t1, mo < 1 || mo > 12 || d < 1 || d > 31 ? NaN : zone.toUtc(num(b, t0, t0 + 4), mo, d, num(b, t0 + 11, t0 + 13), num(b, t0 + 14, t0 + 16), num(b, t0 + 17, t0 + 19), fracMs(b, f0, f1)));
    }
    return true;
  };
}

/** Month of 3 ASCII letters packed into a number → 1..12. */
const MONTH_CODES = new Map<number, number>(Object.entries(MONTHS).map(([k, v]) => [k.charCodeAt(0) * 65536 + k.charCodeAt(1) * 256 + k.charCodeAt(2), v]));

/**
 * syslog preset, RFC 3164 without a PRI ("Jun 14 15:16:01 host prog[pid]: msg": how files are
 * written), and what auto adds for syslog: the level from the message's first token.
 */
function syslogScanner(opts: ParserOptions, headerInMessage: boolean, time: boolean): FastScanner {
  const zone = compileZone(opts.timezone);
  const now = opts.now ?? Date.now;
  const cache = new TimeCache();
  const hours = new TimeCache();
  const years = new Map<number, number>();
  return (b, s, e, r) => {
    if (s + 16 > e || b[s] === 60) return false;
    const c0 = b[s]!;
    const c1 = b[s + 1]!;
    const c2 = b[s + 2]!;
    if (!(c0 >= 65 && c0 <= 90 && c1 >= 97 && c1 <= 122 && c2 >= 97 && c2 <= 122)) return false;
    const mo = MONTH_CODES.get(c0 * 65536 + c1 * 256 + c2);
    if (mo === undefined || b[s + 3] !== 32) return false;
    let p = s + 4;
    if (b[p] === 32) p++;
    const d0 = p;
    if (!(p < e && isDigit(b[p]!))) return false;
    p++;
    if (p < e && isDigit(b[p]!)) p++;
    const d1 = p;
    if (!(p < e && b[p] === 32 && digits(b, p + 1, 2, e) && b[p + 3] === 58 && digits(b, p + 4, 2, e) && b[p + 6] === 58 && digits(b, p + 7, 2, e) && b[p + 9] === 32)) return false;
    const h0 = p + 1;
    const t1 = p + 9;
    p += 10;
    // Host: \S+, then " +".
    const host0 = p;
    while (p < e && !isAsciiSpace(b[p]!)) if (b[p++]! >= 128) return false;
    if (p === host0 || p >= e || b[p] !== 32) return false;
    while (p < e && b[p] === 32) p++;
    // Tag up to ":" or "[pid]:".
    while (p < e && b[p] !== 58 && b[p] !== 91) if (b[p++]! >= 128) return false;
    if (p >= e) return false;
    if (b[p] === 91) {
      const k0 = ++p;
      while (p < e && isDigit(b[p]!)) p++;
      if (p === k0 || p + 1 >= e || b[p] !== 93 || b[p + 1] !== 58) return false;
      p++;
    }
    p++;
    if (p < e && b[p] === 32) p++;
    // The message is trimmed at both ends.
    while (p < e && isAsciiSpace(b[p]!)) p++;
    if (p < e && b[p]! >= 128) return false;
    let me = e;
    while (me > p && isAsciiSpace(b[me - 1]!)) me--;
    if (me > p && b[me - 1]! >= 128) return false;
    let level = -1;
    if (headerInMessage) {
      level = headerLevelBytes(b, p, me);
      if (level === -2) return false;
    }
    r.level = level;
    r.ms = p;
    r.me = me;
    if (!time) r.ts = NaN;
    else if (cache.same(b, s, t1)) r.ts = cache.value;
    else {
      const d = num(b, d0, d1);
      // inferYear per month and day, once per scanner (a Date per distinct second was most of the GC).
      const yk = mo * 32 + d;
      let y = opts.year ?? years.get(yk);
      if (y === undefined) years.set(yk, (y = inferYear(mo, d, now())));
      if (!zone.fixed) r.ts = cache.set(b, s, t1, zone.toUtc(y, mo, d, num(b, h0, h0 + 2), num(b, h0 + 3, h0 + 5), num(b, h0 + 6, h0 + 8), 0));
      else {
        // The hour ("Jun  9 06") once, then minutes and seconds added, as in log4jScanner.
        const base = hours.same(b, s, h0 + 2) ? hours.value : hours.set(b, s, h0 + 2, zone.toUtc(y, mo, d, num(b, h0, h0 + 2), 0, 0, 0));
        r.ts = cache.set(b, s, t1, base + num(b, h0 + 3, h0 + 5) * 60_000 + num(b, h0 + 6, h0 + 8) * 1000);
      }
    }
    return true;
  };
}

/**
 * The fast scanner for a format, if there is one. `auto` says the lines go through auto's
 * handling of the format (the level from the message's first token for syslog), as opposed to
 * a configured preset, which takes none. Without `time` the event time is not computed (ts is
 * NaN; which lines are taken and their level and message do not change): the agent's level
 * counts do not use it, and it was a third of the scan.
 */
export function fastScannerFor(format: string | undefined, opts: ParserOptions, auto: boolean, time = true): FastScanner | undefined {
  if (format === 'log4j') return log4jScanner(compileZone(opts.timezone), time);
  if (format === 'syslog') return syslogScanner(opts, auto, time);
  return undefined;
}
