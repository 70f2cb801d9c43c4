import type { Level } from './levels.js';

/**
 * One parsed log line. `fields` keeps every extracted field as text (including the raw level
 * token as `level_raw`); `tsMs` is the event time in UTC when the format carries one.
 */
export interface LogRecord {
  tsMs?: number;
  level?: Level;
  message: string;
  fields: Record<string, string>;
}

/** A compiled line parser: returns undefined when the line does not fit its format. */
export interface LineParser {
  readonly name: string;
  parse(line: string): LogRecord | undefined;
}

/** Options every parser takes: the zone of timestamps that carry none, and the clock for year inference. */
export interface ParserOptions {
  /** "UTC" (default), "local", a fixed offset like "+08:00", or an IANA zone like "Asia/Shanghai". */
  timezone?: string;
  /** Year for formats without one (syslog 3164, apache/nginx error without year); inferred when absent. */
  year?: number;
  now?: () => number;
}
