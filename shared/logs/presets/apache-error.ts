import { normalizeLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, fractionMs, inferYear, LastValueCache, MONTHS } from '../timestamps.js';

// 2.2: "[Sun Dec 04 04:47:44 2005] [error] message"
// 2.4: "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 1.2.3.4:5] AH00128: message"
const APACHE_ERROR = /^\[(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?: (\d{4}))?\] \[(?:([^:\]]+):)?([A-Za-z]+\d?)\](?: \[pid (\d+)(?::tid (\d+))?\])?(?: \[client ([^\]]+)\])? ?(.*)$/s;

/** Apache httpd error log (2.2 and 2.4 layouts); the time is local to the server, so the zone applies. */
export function createApacheErrorParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  const now = opts.now ?? Date.now;
  const cache = new LastValueCache();
  return {
    name: 'apache_error',
    parse(line: string): LogRecord | undefined {
      const m = APACHE_ERROR.exec(line);
      if (!m) return undefined;
      const level = normalizeLevel(m[9]);
      if (!level) return undefined;
      const message = m[13]!.trimEnd();
      const fields: Record<string, string> = { level_raw: m[9]!, message };
      if (m[8] !== undefined) fields.module = m[8];
      if (m[10] !== undefined) fields.pid = m[10];
      if (m[11] !== undefined) fields.tid = m[11];
      if (m[12] !== undefined) fields.client = m[12];
      const rec: LogRecord = { message, fields, level };
      const key = line.slice(0, line.indexOf(']'));
      const ts = cache.get(key, () => {
        const mo = MONTHS[m[1]!];
        if (!mo) return undefined;
        const d = Number(m[2]);
        const y = m[7] !== undefined ? Number(m[7]) : (opts.year ?? inferYear(mo, d, now()));
        return zone.toUtc(y, mo, d, Number(m[3]), Number(m[4]), Number(m[5]), fractionMs(m[6]));
      });
      if (ts !== undefined) rec.tsMs = ts;
      return rec;
    },
  };
}
