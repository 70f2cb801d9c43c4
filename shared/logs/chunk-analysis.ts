import { closeSync, openSync, readSync } from 'node:fs';
import { LEVELS, type Level } from './levels.js';
import type { LineParser } from './record.js';
import { maskedKey } from './template-miner.js';
import { ByteKeyTable, hashBytes, KEY_BUF_BYTES, lastHash, MAX_KEY_BYTES, maskKeyBytes } from './byte-keys.js';
import { fastScannerFor, type FastScanner, type ScanResult } from './fast-scan.js';
import { createParser, type ParserSpec } from './parser.js';
import { createLockedParser, levelFromMessageHead } from './presets/auto.js';
import type { ParserOptions } from './record.js';

/**
 * What one byte range of a file gave: the counts of `Analyzer`, and the masked template keys
 * in order of first appearance with their counts, so the caller can cluster them exactly as a
 * single pass would (see template-miner.ts). Plain data: it crosses a worker boundary.
 */
export interface ChunkResult {
  lines: number;
  parsed: number;
  truncated: number;
  levels: number[];
  first: number;
  last: number;
  keys: string[];
  counts: number[];
  samples: string[];
  keyLevels: Array<Level | null>;
  unparsedSamples: string[];
}

const READ = 1 << 22;

/**
 * The parsers of a thread that analyzes chunks of one file: auto's format chosen once from the
 * file's head (`format`), or the configured spec; and the format's fast scanner if it has one.
 */
export function chunkParsers(format: string | undefined, spec: ParserSpec | undefined, popts: ParserOptions): { parser: LineParser; fast: FastScanner | undefined } {
  if (format) return { parser: createLockedParser(format, popts), fast: fastScannerFor(format, popts, levelFromMessageHead(format)) };
  return { parser: createParser(spec, popts), fast: spec?.preset ? fastScannerFor(spec.preset, popts, false) : undefined };
}

/** Reused across the chunks a thread analyzes: the key table and the key buffer. */
const table = new ByteKeyTable();
const kbuf = Buffer.allocUnsafe(KEY_BUF_BYTES);
const readBuf = Buffer.allocUnsafe(READ);

/**
 * Reads [start, end) of a file (both on line starts) and analyzes its lines with `parser`.
 * Lines are found in a Buffer block by their newline bytes. A line the format's fast scanner
 * (fast-scan.ts) takes is counted from its bytes, its template key masked into a reused buffer
 * and interned (byte-keys.ts): no string, no record. Any other line is decoded and parsed by
 * `parser` as before. A line longer than `maxLineChars` is cut (counted in `truncated`).
 */
export function analyzeRange(file: string, start: number, end: number, parser: LineParser, opts: { templates: boolean; maxLineChars: number; fast?: FastScanner | undefined }): ChunkResult {
  const r: ChunkResult = { lines: 0, parsed: 0, truncated: 0, levels: new Array(LEVELS.length + 1).fill(0), first: Infinity, last: -Infinity, keys: [], counts: [], samples: [], keyLevels: [], unparsedSamples: [] };
  const levelIdx = new Map<string, number>(LEVELS.map((l, i) => [l, i]));
  const NONE = LEVELS.length;
  const levels = r.levels;
  const counts = r.counts;
  const templates = opts.templates;
  const fast = opts.fast;
  const sr: ScanResult = { level: -1, ts: NaN, ms: 0, me: 0 };
  let kb: Buffer = kbuf;
  table.reset();
  const fd = openSync(file, 'r');
  /** Counts the key in kb[0, n) when seen before in this chunk; false: new, the caller adds it. */
  const counted = (n: number, h: number): boolean => {
    const k = table.find(kb, n, h);
    if (k >= 0) {
      counts[k]!++;
      return true;
    }
    table.add(kb, n, h);
    return false;
  };
  const addKey = (key: string, sample: string, level: Level | undefined): void => {
    r.keys.push(key);
    counts.push(1);
    r.samples.push(sample);
    r.keyLevels.push(level ?? null);
  };
  // The string path: the parser's record, the reference semantics.
  const onLine = (text: string): void => {
    let line = text;
    if (line.length > opts.maxLineChars) {
      line = line.slice(0, opts.maxLineChars);
      r.truncated++;
    }
    r.lines++;
    const rec = parser.parse(line);
    if (!rec) {
      if (r.unparsedSamples.length < 5) r.unparsedSamples.push(line.slice(0, 300));
      return;
    }
    r.parsed++;
    levels[rec.level ? levelIdx.get(rec.level)! : NONE]++;
    const ts = rec.tsMs;
    if (ts !== undefined) {
      if (ts < r.first) r.first = ts;
      if (ts > r.last) r.last = ts;
    }
    if (!templates) return;
    const key = maskedKey(rec.message);
    const need = Buffer.byteLength(key, 'utf8');
    if (need > kb.length) kb = Buffer.allocUnsafe(need);
    const n = kb.write(key, 0, 'utf8');
    if (!counted(n, hashBytes(kb, n))) addKey(key, rec.message.slice(0, 500), rec.level);
  };
  // The byte path; [s, e) without the newline.
  const onBytes = (b: Buffer, s: number, e: number): void => {
    if (e > s && b[e - 1] === 13) e--;
    if (fast !== undefined && e - s <= opts.maxLineChars && fast(b, s, e, sr)) {
      let n = 0;
      if (templates) {
        const me = sr.me - sr.ms > MAX_KEY_BYTES ? sr.ms + MAX_KEY_BYTES : sr.me;
        n = maskKeyBytes(b, sr.ms, me, kb);
      }
      if (n >= 0) {
        r.lines++;
        r.parsed++;
        const lv = sr.level;
        levels[lv < 0 ? NONE : lv]++;
        const ts = sr.ts;
        if (ts === ts) {
          if (ts < r.first) r.first = ts;
          if (ts > r.last) r.last = ts;
        }
        if (templates && !counted(n, lastHash)) addKey(kb.toString('latin1', 0, n), b.toString('latin1', sr.ms, Math.min(sr.me, sr.ms + 500)), lv < 0 ? undefined : LEVELS[lv]);
        return;
      }
    }
    onLine(b.toString('utf8', s, e));
  };
  try {
    // The partial last line of a block moves to the front of the buffer and the next read
    // lands after it (no concatenation of blocks). A line that fills the whole buffer is
    // cut there and the rest of it skipped up to its newline.
    const buf = readBuf;
    let have = 0;
    let skipping = false;
    let pos = start;
    while (pos < end || have > 0) {
      let total = have;
      if (pos < end) {
        const n = readSync(fd, buf, have, Math.min(buf.length - have, end - pos), pos);
        if (n <= 0) break;
        pos += n;
        total += n;
      }
      let from = 0;
      if (skipping) {
        const nl = buf.indexOf(10, 0);
        if (nl < 0 || nl >= total) {
          have = 0;
          if (pos >= end) break;
          continue;
        }
        skipping = false;
        from = nl + 1;
      }
      const lastNl = total > from ? buf.lastIndexOf(10, total - 1) : -1;
      if (lastNl < from) {
        if (pos >= end) {
          if (total > from) onBytes(buf, from, total);
          break;
        }
        if (total - from >= buf.length) {
          onLine(stripCr(buf.toString('utf8', from, total)));
          skipping = true;
          have = 0;
        } else {
          buf.copy(buf, 0, from, total);
          have = total - from;
        }
        continue;
      }
      for (let i = from; i <= lastNl; ) {
        const j = buf.indexOf(10, i);
        onBytes(buf, i, j);
        i = j + 1;
      }
      buf.copy(buf, 0, lastNl + 1, total);
      have = total - lastNl - 1;
      if (pos >= end && have === 0) break;
    }
  } finally {
    closeSync(fd);
  }
  return r;
}

function stripCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}
