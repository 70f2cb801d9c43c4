import { normalizeLevel, type Level } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, fractionMs, inferYear, LastValueCache, MONTHS, type Zone } from '../timestamps.js';

/** What a format's regex gave: the timestamp text, the raw level token, the message and other fields. */
export interface Parts {
  ts?: string | undefined;
  level?: string | undefined;
  message: string;
  fields?: Record<string, string | undefined>;
}

/** Clock and zone every preset gets, compiled once. */
export interface TimeContext {
  zone: Zone;
  /** Year for formats without one (klog, logcat): configured or inferred from the clock. */
  year(mo: number, d: number): number;
}

/**
 * Builds a preset from a regex and a function from its match to parts. Lines the regex does
 * not match, or that name no level where the format always has one (`levelRequired`), are not
 * this format. The timestamp is converted once per distinct text (consecutive lines share it).
 */
export function definePreset(
  name: string,
  opts: ParserOptions,
  re: RegExp,
  toParts: (m: RegExpExecArray) => Parts | undefined,
  cfg: { time: (text: string, t: TimeContext) => number | undefined; level?: (raw: string) => Level | undefined; levelRequired?: boolean },
): LineParser {
  const zone = compileZone(opts.timezone);
  const now = opts.now ?? Date.now;
  const t: TimeContext = { zone, year: (mo, d) => opts.year ?? inferYear(mo, d, now()) };
  const cache = new LastValueCache();
  const toLevel = cfg.level ?? normalizeLevel;
  return {
    name,
    parse(line: string): LogRecord | undefined {
      const m = re.exec(line);
      if (!m) return undefined;
      const p = toParts(m);
      if (!p) return undefined;
      const level = p.level !== undefined ? toLevel(p.level) : undefined;
      if (cfg.levelRequired && !level) return undefined;
      const message = p.message.trimEnd();
      const fields: Record<string, string> = {};
      if (p.fields) for (const k in p.fields) if (p.fields[k] !== undefined) fields[k] = p.fields[k]!;
      fields.message = message;
      const rec: LogRecord = { message, fields };
      if (level) {
        rec.level = level;
        fields.level_raw = p.level!;
      }
      if (p.ts !== undefined) {
        const ms = cache.get(p.ts, (x) => cfg.time(x, t));
        if (ms !== undefined) rec.tsMs = ms;
      }
      return rec;
    },
  };
}

/** Wall-clock parts to epoch ms in the configured zone; undefined when out of range. */
export function wall(t: TimeContext, y: number, mo: number, d: number, h: number, mi: number, s: number, frac?: string): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  return t.zone.toUtc(y, mo, d, h, mi, s, fractionMs(frac));
}

export { MONTHS };
