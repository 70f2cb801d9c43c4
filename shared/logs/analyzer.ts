import { LEVELS, type Level } from './levels.js';
import type { LineParser, LogRecord } from './record.js';
import { maskedKey, TemplateMiner } from './template-miner.js';
import type { ChunkResult } from './chunk-analysis.js';
import type { TemplateCount } from './templates.js';

/** What `opsctl logs analyze --json` prints. */
export interface AnalysisSummary {
  parser: string;
  /** The format of each file: what `auto` chose from the file's sample (e.g. "nats_server"), or the preset. */
  formats: Record<string, string>;
  lines: number;
  parsed: number;
  unparsed: number;
  bytes: number;
  /** Normalized level → count; parsed lines without a level count under NONE. */
  levels: Record<Level | 'NONE', number>;
  timeRange: { first: string; last: string } | null;
  templates: TemplateCount[];
  /** Distinct templates beyond the tracked bound, counted but not listed. */
  templatesOther: number;
  unparsedSamples: string[];
}

/**
 * Offline analysis of a stream of lines: counts, levels, time range and top templates. Shared
 * by `opsctl logs analyze` and anything else that wants a summary of a file.
 */
export class Analyzer {
  lines = 0;
  parsed = 0;
  bytes = 0;
  private readonly levels: Record<Level | 'NONE', number>;
  private first = Infinity;
  private last = -Infinity;
  private readonly miner: TemplateMiner;
  /** Template id of the line `add` parsed last (undefined when templates are off or it did not parse). */
  lastTemplateId: string | undefined;
  private readonly unparsedSamples: string[] = [];

  constructor(
    private parser: LineParser,
    private readonly opts: { templates?: boolean; topTemplates?: number } = {},
  ) {
    this.levels = Object.fromEntries([...LEVELS, 'NONE'].map((l) => [l, 0])) as Record<Level | 'NONE', number>;
    this.miner = new TemplateMiner();
  }

  private readonly formats: Record<string, string> = {};
  private currentFile: string | undefined;

  /**
   * Starts a new input with its own parser: \`auto\` chooses the format per file from the file's
   * own sample. Call \`endFile\` after its last line to record the format.
   */
  beginFile(file: string, parser: LineParser): void {
    this.parser = parser;
    this.currentFile = file;
  }

  endFile(): void {
    if (this.currentFile === undefined) return;
    const f = (this.parser as { format?: string }).format;
    this.formats[this.currentFile] = f ?? this.parser.name;
    this.currentFile = undefined;
  }

  /** Feeds one line (without its newline); returns the record when it parsed. */
  add(line: string): LogRecord | undefined {
    this.lines++;
    this.lastTemplateId = undefined;
    const rec = this.parser.parse(line);
    if (!rec) {
      if (this.unparsedSamples.length < 5) this.unparsedSamples.push(line.slice(0, 300));
      return undefined;
    }
    this.parsed++;
    this.levels[rec.level ?? 'NONE']++;
    const ts = rec.tsMs;
    if (ts !== undefined) {
      if (ts < this.first) this.first = ts;
      if (ts > this.last) this.last = ts;
    }
    if (this.opts.templates !== false) {
      const c = this.miner.clusterOf(maskedKey(rec.message), rec.message, rec.level);
      c.count++;
      this.lastTemplateId = c.id;
    }
    return rec;
  }

  /**
   * Adds what a worker found in one chunk (see parallel-analyze.ts). Chunks must come in file
   * order: their template keys then reach the miner in the order a single pass would see them.
   */
  mergeChunk(c: ChunkResult): void {
    this.lines += c.lines;
    this.parsed += c.parsed;
    const names = [...LEVELS, 'NONE' as const];
    for (let i = 0; i < names.length; i++) this.levels[names[i]!] += c.levels[i]!;
    if (c.first < this.first) this.first = c.first;
    if (c.last > this.last) this.last = c.last;
    for (let i = 0; i < c.keys.length; i++) {
      const cl = this.miner.clusterOf(c.keys[i]!, c.samples[i]!, c.keyLevels[i] ?? undefined);
      cl.count += c.counts[i]!;
    }
    for (const u of c.unparsedSamples) if (this.unparsedSamples.length < 5) this.unparsedSamples.push(u);
  }

  /** Records the format of a file analyzed in chunks (no parser instance of its own here). */
  setFormat(file: string, format: string): void {
    this.formats[file] = format;
  }

  /** The reader reports bytes per chunk (cheaper than per line). */
  countBytes(n: number): void {
    this.bytes += n;
  }

  private topTemplates(n: number): TemplateCount[] {
    return [...this.miner.clusters]
      .sort((a, b) => b.count - a.count || (a.id < b.id ? -1 : 1))
      .slice(0, n)
      .map((c) => ({ id: c.id, template: this.miner.template(c), count: c.count, sample: c.sample, ...(c.level ? { level: c.level } : {}) }));
  }

  summary(): AnalysisSummary {
    return {
      parser: this.parser.name,
      formats: { ...this.formats },
      lines: this.lines,
      parsed: this.parsed,
      unparsed: this.lines - this.parsed,
      bytes: this.bytes,
      levels: { ...this.levels },
      timeRange: Number.isFinite(this.first) ? { first: new Date(this.first).toISOString(), last: new Date(this.last).toISOString() } : null,
      templates: this.topTemplates(this.opts.topTemplates ?? 20),
      templatesOther: this.miner.other.count,
      unparsedSamples: [...this.unparsedSamples],
    };
  }
}
