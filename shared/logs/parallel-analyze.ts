import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { OpsError } from '../errors.js';
import type { Analyzer } from './analyzer.js';
import { analyzeRange, chunkParsers, type ChunkResult } from './chunk-analysis.js';
import { createParser, type ParserSpec } from './parser.js';
import type { AutoParser } from './presets/auto.js';
import type { ParserOptions } from './record.js';

/** Files smaller than this are read in one thread: starting workers costs more than it saves. */
export const PARALLEL_MIN_BYTES = 32 << 20;
const CHUNK_BYTES = 8 << 20;
const HEAD_BYTES = 64 << 10;

export interface ParallelOptions {
  templates: boolean;
  maxLineChars: number;
  /** Worker threads; default: the cores the process may use. */
  workers?: number;
  /** Bytes per chunk (tests use small ones to cross many boundaries). */
  chunkBytes?: number;
}

/** True when `file` is a plain (not gzip) regular file large enough to split. */
export function canSplit(file: string, minBytes = PARALLEL_MIN_BYTES): boolean {
  if (file === '-') return false;
  let st;
  try {
    st = statSync(file);
  } catch {
    return false;
  }
  if (!st.isFile() || st.size < minBytes) return false;
  const head = readAt(file, 0, 2);
  return !(head.length === 2 && head[0] === 0x1f && head[1] === 0x8b);
}

function readAt(file: string, pos: number, len: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.allocUnsafe(len);
    const n = readSync(fd, b, 0, len, pos);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Chunk boundaries on line starts: [0, b1), [b1, b2) … [bn, size). */
function boundaries(file: string, size: number, chunkBytes: number): number[] {
  const out = [0];
  for (let p = chunkBytes; p < size; p += chunkBytes) {
    // Look for the newline after p; a line longer than the probe just makes the chunk longer.
    for (let q = p; q < size; q += HEAD_BYTES) {
      const b = readAt(file, q, HEAD_BYTES);
      const i = b.indexOf(10);
      if (i >= 0) {
        if (q + i + 1 > out.at(-1)! && q + i + 1 < size) out.push(q + i + 1);
        break;
      }
    }
  }
  out.push(size);
  return [...new Set(out)];
}

/** The format auto picks from the head of the file, chosen once so every worker parses alike. */
function detectFormat(file: string, spec: ParserSpec | undefined, popts: ParserOptions): string | undefined {
  if (spec) return undefined;
  const text = readAt(file, 0, HEAD_BYTES).toString('utf8');
  const lines = text.split('\n');
  lines.pop();
  const p = createParser(undefined, popts) as AutoParser;
  for (const l of lines.slice(0, 64)) p.parse(l.replace(/\r$/, ''));
  return p.format;
}

function workerUrl(): { url: URL; data: Record<string, unknown> } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return { url: new URL('./worker-boot.mjs', here), data: { __entry: new URL('./analyze-worker.ts', here).href } };
  return { url: new URL('./analyze-worker.js', here), data: {} };
}

/**
 * Analyzes one large file with worker threads over byte ranges (line-aligned chunks of 8 MiB).
 * Workers parse and mask; this thread merges the chunks in file order, so the counts, the
 * template clusters and their ids are those of a single pass. At most 2 chunks per worker are
 * in flight or waiting to be merged, so memory stays bounded on any file size. Returns the
 * format used and the lines cut to maxLineChars.
 */
export async function analyzeParallel(file: string, spec: ParserSpec | undefined, popts: ParserOptions, analyzer: Analyzer, opts: ParallelOptions): Promise<{ format: string; truncated: number }> {
  const size = statSync(file).size;
  const format = detectFormat(file, spec, popts);
  const ranges = boundaries(file, size, opts.chunkBytes ?? CHUNK_BYTES);
  const chunks = ranges.length - 1;
  const nWorkers = Math.max(1, Math.min(opts.workers ?? availableParallelism(), chunks));
  if (nWorkers === 1) {
    // One thread: the same chunked byte path in this thread, without starting a worker.
    const { parser, fast } = chunkParsers(format, spec, popts);
    let cut = 0;
    for (let id = 0; id < chunks; id++) {
      const r = analyzeRange(file, ranges[id]!, ranges[id + 1]!, parser, { templates: opts.templates, maxLineChars: opts.maxLineChars, fast });
      cut += r.truncated;
      analyzer.mergeChunk(r);
    }
    analyzer.countBytes(size);
    return { format: format ?? spec?.preset ?? (spec?.regex !== undefined ? 'regex' : 'auto'), truncated: cut };
  }
  const { url, data } = workerUrl();
  const workers: Worker[] = [];
  const done = new Map<number, ChunkResult>();
  let next = 0;
  let merged = 0;
  let truncated = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const dispatch = (w: Worker) => {
        if (next >= chunks || next - merged >= 2 * nWorkers) return false;
        const id = next++;
        w.postMessage({ id, start: ranges[id]!, end: ranges[id + 1]! });
        return true;
      };
      const idle: Worker[] = [];
      for (let i = 0; i < nWorkers; i++) {
        const w = new Worker(url, { workerData: { ...data, file, spec, format, popts: { ...popts, now: undefined }, templates: opts.templates, maxLineChars: opts.maxLineChars } });
        workers.push(w);
        w.on('error', reject);
        w.on('message', (m: { id: number; result?: ChunkResult; error?: string }) => {
          if (m.error) return reject(new OpsError('OPS_ERR_LOGS_READ', `cannot read ${file}: ${m.error}`));
          done.set(m.id, m.result!);
          while (done.has(merged)) {
            truncated += done.get(merged)!.truncated;
            analyzer.mergeChunk(done.get(merged)!);
            done.delete(merged);
            merged++;
          }
          if (merged === chunks) return resolve();
          if (!dispatch(w)) idle.push(w);
          while (idle.length && dispatch(idle[0]!)) idle.shift();
        });
        if (!dispatch(w)) idle.push(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  analyzer.countBytes(size);
  return { format: format ?? spec?.preset ?? (spec?.regex !== undefined ? 'regex' : 'auto'), truncated };
}
