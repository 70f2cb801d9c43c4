import { closeSync, openSync, readSync } from 'node:fs';
import { LEVELS, type Level } from './levels.js';
import type { LineParser } from './record.js';
import { maskedKey } from './template-miner.js';

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
 * Reads [start, end) of a file (both on line starts) and analyzes its lines with `parser`.
 * Lines are cut out of a Buffer block and decoded one block at a time; a line longer than
 * `maxLineChars` is cut (counted in `truncated`).
 */
export function analyzeRange(file: string, start: number, end: number, parser: LineParser, opts: { templates: boolean; maxLineChars: number }): ChunkResult {
  const r: ChunkResult = { lines: 0, parsed: 0, truncated: 0, levels: new Array(LEVELS.length + 1).fill(0), first: Infinity, last: -Infinity, keys: [], counts: [], samples: [], keyLevels: [], unparsedSamples: [] };
  const index = new Map<string, number>();
  const levelIdx = new Map<string, number>(LEVELS.map((l, i) => [l, i]));
  const NONE = LEVELS.length;
  const fd = openSync(file, 'r');
  const onLine = (raw: string): void => {
    let line = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
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
    r.levels[rec.level ? levelIdx.get(rec.level)! : NONE]++;
    const ts = rec.tsMs;
    if (ts !== undefined) {
      if (ts < r.first) r.first = ts;
      if (ts > r.last) r.last = ts;
    }
    if (!opts.templates) return;
    const key = maskedKey(rec.message);
    const k = index.get(key);
    if (k !== undefined) r.counts[k]!++;
    else {
      index.set(key, r.keys.length);
      r.keys.push(key);
      r.counts.push(1);
      r.samples.push(rec.message.slice(0, 500));
      r.keyLevels.push(rec.level ?? null);
    }
  };
  try {
    // The partial last line of a block moves to the front of the buffer and the next read
    // lands after it (no concatenation of blocks). A line that fills the whole buffer is
    // cut there and the rest of it skipped up to its newline.
    const buf = Buffer.allocUnsafe(READ);
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
          if (total > from) onLine(buf.toString('utf8', from, total));
          break;
        }
        if (total - from >= buf.length) {
          onLine(buf.toString('utf8', from, total));
          skipping = true;
          have = 0;
        } else {
          buf.copy(buf, 0, from, total);
          have = total - from;
        }
        continue;
      }
      const text = buf.toString('utf8', from, lastNl);
      let i = 0;
      const tn = text.length;
      for (;;) {
        const j = text.indexOf('\n', i);
        if (j < 0) {
          onLine(text.slice(i));
          break;
        }
        onLine(text.slice(i, j));
        i = j + 1;
      }
      buf.copy(buf, 0, lastNl + 1, total);
      have = total - lastNl - 1;
      if (pos >= end && have === 0) break;
      void tn;
    }
  } finally {
    closeSync(fd);
  }
  return r;
}
