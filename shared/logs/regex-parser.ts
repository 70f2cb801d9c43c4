import { OpsError } from '../errors.js';
import type { SafeRegex } from '../regex.js';
import { normalizeLevel } from './levels.js';
import { parseClfTime } from './presets/combined-access.js';
import type { LineParser, LogRecord, ParserOptions } from './record.js';
import { compileLogRegex } from './user-regex.js';
import { compileZone, inferYear, LastValueCache, MONTHS, parseIsoLike, type Zone } from './timestamps.js';

const SYSLOG_TS = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})$/;

/**
 * Compiles a parser regex once, on the linear-time engine (RE2 semantics, `.` matches newlines
 * of joined multiline records). Throws OPS_ERR_LOGS_REGEX with the engine's reason when the
 * pattern is refused or has no named group at all (config loading reports it with the file
 * position).
 */
export function compileUserRegex(pattern: string): SafeRegex {
  const re = compileLogRegex(pattern, { dotAll: true });
  if (re.groupNames.length === 0) {
    throw new OpsError('OPS_ERR_LOGS_REGEX', 'regex needs named groups like (?<level>\\w+) and (?<message>.*)');
  }
  return re;
}

/** Timestamps of user regexes: ISO/log4j, CLF, syslog, epoch seconds/ms, then Date.parse. */
export function parseAnyTime(text: string, zone: Zone, year: number | undefined, nowMs: () => number): number | undefined {
  const iso = parseIsoLike(text, zone);
  if (iso !== undefined) return iso;
  const clf = parseClfTime(text);
  if (clf !== undefined) return clf;
  const sm = SYSLOG_TS.exec(text);
  if (sm) {
    const mo = MONTHS[sm[1]!];
    if (mo) {
      const d = Number(sm[2]);
      return zone.toUtc(year ?? inferYear(mo, d, nowMs()), mo, d, Number(sm[3]), Number(sm[4]), Number(sm[5]), 0);
    }
  }
  if (/^\d{10}(?:\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (/^\d{13}$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A parser from a user regex with named groups: ts, level, message (or msg), and any others as fields. */
export function createRegexParser(pattern: string, opts: ParserOptions = {}): LineParser {
  const re = compileUserRegex(pattern);
  const zone = compileZone(opts.timezone);
  const now = opts.now ?? Date.now;
  const cache = new LastValueCache();
  return {
    name: 'regex',
    parse(line: string): LogRecord | undefined {
      const m = re.exec(line);
      if (!m) return undefined;
      const fields: Record<string, string> = {};
      const g = m.groups;
      for (const k in g) {
        const v = g[k];
        if (v !== undefined) fields[k] = v;
      }
      const message = (g.message ?? g.msg ?? line).trimEnd();
      fields.message = message;
      delete fields.msg;
      const rec: LogRecord = { message, fields };
      if (g.level !== undefined) {
        fields.level_raw = g.level;
        delete fields.level;
        const lvl = normalizeLevel(g.level.trim());
        if (lvl) rec.level = lvl;
      }
      if (g.ts !== undefined) {
        const ts = cache.get(g.ts, (t) => parseAnyTime(t, zone, opts.year, now));
        if (ts !== undefined) rec.tsMs = ts;
      }
      return rec;
    },
  };
}
