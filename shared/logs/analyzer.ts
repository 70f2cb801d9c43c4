import { LEVELS, type Level } from './levels.js';
import type { LineParser, LogRecord } from './record.js';
import { TemplateCounter, type TemplateCount } from './templates.js';

/** What `opsctl logs analyze --json` prints. */
export interface AnalysisSummary {
  parser: string;
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
  private readonly templates: TemplateCounter;
  private readonly unparsedSamples: string[] = [];

  constructor(
    private readonly parser: LineParser,
    private readonly opts: { templates?: boolean; topTemplates?: number } = {},
  ) {
    this.levels = Object.fromEntries([...LEVELS, 'NONE'].map((l) => [l, 0])) as Record<Level | 'NONE', number>;
    this.templates = new TemplateCounter();
  }

  /** Feeds one line (without its newline); returns the record when it parsed. */
  add(line: string): LogRecord | undefined {
    this.lines++;
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
    if (this.opts.templates !== false) this.templates.add(rec.message, rec.level);
    return rec;
  }

  /** The reader reports bytes per chunk (cheaper than per line). */
  countBytes(n: number): void {
    this.bytes += n;
  }

  summary(): AnalysisSummary {
    return {
      parser: this.parser.name,
      lines: this.lines,
      parsed: this.parsed,
      unparsed: this.lines - this.parsed,
      bytes: this.bytes,
      levels: { ...this.levels },
      timeRange: Number.isFinite(this.first) ? { first: new Date(this.first).toISOString(), last: new Date(this.last).toISOString() } : null,
      templates: this.templates.top(this.opts.topTemplates ?? 20),
      templatesOther: this.templates.otherCount,
      unparsedSamples: [...this.unparsedSamples],
    };
  }
}
