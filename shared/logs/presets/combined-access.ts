import { httpStatusLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { LastValueCache, MONTHS } from '../timestamps.js';

// NCSA combined: host ident user [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 200 2326 "referer" "agent"
// The referer/agent pair is optional (common log format); nginx may append more fields after it.
const COMBINED = /^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?(.*)$/s;
const CLF_TS = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))? ([+-]\d{4})$/;

/** "10/Oct/2000:13:55:36 -0700" → epoch ms (the format always carries its offset). */
export function parseClfTime(text: string): number | undefined {
  const m = CLF_TS.exec(text);
  if (!m) return undefined;
  const mo = MONTHS[m[2]!];
  if (!mo) return undefined;
  const off = m[8]!;
  const offMs = (off[0] === '-' ? -1 : 1) * (Number(off.slice(1, 3)) * 60 + Number(off.slice(3, 5))) * 60_000;
  return Date.UTC(Number(m[3]), mo - 1, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]), m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0) - offMs;
}

/** Shared by nginx_access and apache_access: both default to the combined format. */
export function createCombinedAccessParser(name: string, opts: ParserOptions = {}): LineParser {
  void opts; // the format always carries its offset
  const cache = new LastValueCache();
  return {
    name,
    parse(line: string): LogRecord | undefined {
      const m = COMBINED.exec(line);
      if (!m) return undefined;
      const request = m[5]!;
      const status = Number(m[6]);
      const fields: Record<string, string> = { remote_addr: m[1]!, remote_user: m[3]!, request, status: m[6]!, bytes: m[7]! };
      if (m[2] !== '-') fields.ident = m[2]!;
      const sp1 = request.indexOf(' ');
      const sp2 = request.lastIndexOf(' ');
      if (sp1 > 0) {
        fields.method = request.slice(0, sp1);
        fields.path = sp2 > sp1 ? request.slice(sp1 + 1, sp2) : request.slice(sp1 + 1);
        if (sp2 > sp1) fields.protocol = request.slice(sp2 + 1);
      }
      if (m[8] !== undefined) fields.referer = m[8];
      if (m[9] !== undefined) fields.user_agent = m[9];
      const extra = m[10]!.trim();
      if (extra) fields.extra = extra;
      fields.level_raw = m[6]!;
      fields.message = request;
      const rec: LogRecord = { message: request, fields, level: httpStatusLevel(status) };
      const ts = cache.get(m[4]!, parseClfTime);
      if (ts !== undefined) rec.tsMs = ts;
      return rec;
    },
  };
}
