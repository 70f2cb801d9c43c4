import type { RawLine } from './tailed-file.js';

/** A record made of one or more physical lines. */
export interface JoinedRecord {
  text: string;
  start: number;
  end: number;
  lines: number;
  truncated: boolean;
}

/**
 * Joins continuation lines (stack traces) onto the line that started the record. A record is
 * complete when the next start line arrives, when it reaches max_lines, or when no line came
 * for `timeoutMs`. The pending record's start offset bounds the checkpoint, so a restart
 * re-reads and re-forms it instead of losing or splitting it.
 */
export class MultilineJoiner {
  private pending: JoinedRecord | undefined;
  private lastAt = 0;

  constructor(
    /** The compiled `multiline.start` (linear-time engine: it runs on every line). */
    private readonly start: { test(line: string): boolean },
    private readonly maxLines: number,
    private readonly timeoutMs: number,
    private readonly maxBytes: number,
  ) {}

  push(line: RawLine, now: number, out: JoinedRecord[]): void {
    this.lastAt = now;
    const isStart = this.start.test(line.text);
    if (this.pending && !isStart && this.pending.lines < this.maxLines) {
      const p = this.pending;
      if (p.text.length < this.maxBytes) p.text += `\n${line.text}`;
      if (p.text.length > this.maxBytes) {
        p.text = p.text.slice(0, this.maxBytes);
        p.truncated = true;
      }
      p.end = line.end;
      p.lines++;
      p.truncated ||= line.truncated;
      return;
    }
    if (this.pending) out.push(this.pending);
    this.pending = { text: line.text, start: line.start, end: line.end, lines: 1, truncated: line.truncated };
  }

  /** Emits the pending record when it waited long enough (or `force`, at stop/rotation end). */
  flushIfIdle(now: number, out: JoinedRecord[], force = false): void {
    if (this.pending && (force || now - this.lastAt >= this.timeoutMs)) {
      out.push(this.pending);
      this.pending = undefined;
    }
  }

  /** Where the pending record starts (the checkpoint may not pass it), if any. */
  pendingStart(): number | undefined {
    return this.pending?.start;
  }

  reset(): void {
    this.pending = undefined;
  }
}
