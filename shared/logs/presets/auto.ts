import { normalizeLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, parseIsoLike } from '../timestamps.js';
import { createApacheErrorParser } from './apache-error.js';
import { createCombinedAccessParser } from './combined-access.js';
import { createJsonParser } from './json.js';
import { createLog4jParser } from './log4j.js';
import { createNginxErrorParser } from './nginx-error.js';
import { createSyslogParser } from './syslog.js';

// A level word standing alone (upper case, to keep "error" inside prose from counting), or a
// bracketed/colon-terminated token in any case: "[warn]", "<error>", "level=error", "E:".
const LEVEL_TOKEN = /(?:^|[\s[(<|])(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRIT|CRITICAL|ALERT|EMERG|PANIC)(?=$|[\s\]):>|,])|\[(trace|debug|info|notice|warn|warning|error|err|crit|critical|alert|emerg|fatal)\]|\blevel=["']?([A-Za-z]+)/;
const LEADING_TS = /^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)/;

/**
 * When no preset is configured: tries the structured presets (remembering the last one that
 * fit, since a file rarely changes format), then falls back to finding a level token and a
 * leading ISO timestamp anywhere in common layouts. A line with neither is unparsed.
 */
export function createAutoParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  const json = createJsonParser(opts);
  const chain: LineParser[] = [
    createLog4jParser(opts),
    createApacheErrorParser(opts),
    createNginxErrorParser(opts),
    createCombinedAccessParser('access', opts),
    createSyslogParser(opts),
  ];
  let last: LineParser | undefined;
  const withDetected = (rec: LogRecord, via: string): LogRecord => {
    rec.fields.detected = via;
    if (!rec.level) {
      const lvl = findLevel(rec.message);
      if (lvl) {
        rec.level = lvl.level;
        rec.fields.level_raw = lvl.raw;
      }
    }
    return rec;
  };
  return {
    name: 'auto',
    parse(line: string): LogRecord | undefined {
      if (line.charCodeAt(0) === 123 /* { */) {
        const r = json.parse(line);
        if (r) return withDetected(r, 'json');
      }
      if (last) {
        const r = last.parse(line);
        if (r) return withDetected(r, last.name);
      }
      for (const p of chain) {
        if (p === last) continue;
        const r = p.parse(line);
        if (r) {
          last = p;
          return withDetected(r, p.name);
        }
      }
      const lvl = findLevel(line);
      const tsm = LEADING_TS.exec(line);
      if (!lvl && !tsm) return undefined;
      const message = line.trimEnd();
      const rec: LogRecord = { message, fields: { message, detected: 'token' } };
      if (lvl) {
        rec.level = lvl.level;
        rec.fields.level_raw = lvl.raw;
      }
      if (tsm) {
        const ms = parseIsoLike(tsm[1]!, zone);
        if (ms !== undefined) rec.tsMs = ms;
      }
      return rec;
    },
  };
}

function findLevel(text: string): { level: NonNullable<LogRecord['level']>; raw: string } | undefined {
  const m = LEVEL_TOKEN.exec(text);
  if (!m) return undefined;
  const raw = m[1] ?? m[2] ?? m[3]!;
  const level = normalizeLevel(raw);
  return level ? { level, raw } : undefined;
}
