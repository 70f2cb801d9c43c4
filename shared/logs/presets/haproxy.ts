import { httpStatusLevel, normalizeLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, fractionMs, LastValueCache, MONTHS } from '../timestamps.js';

// HAProxy, logging to stdout/a file in `format raw` (or with the syslog header stripped):
//   HTTP:  "10.0.0.1:40000 [02/Dec/2026:12:00:00.123] fe be/srv 0/0/1/2/3 200 512 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1""
//   TCP:   "10.0.0.1:40000 [02/Dec/2026:12:00:00.123] fe be/srv 1/0/5 212 -- 1/1/0/0/0 0/0"
//   its own messages: "[NOTICE]   (1) : New worker (8) forked", "[WARNING]  (1) : …", "[ALERT] …".
// Traffic lines get their level from the HTTP status (5xx ERROR, 4xx WARN), or WARN when the
// termination state says the session was aborted or failed (first letter not "-").
const TRAFFIC = /^(\S+):(\d+) \[(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\] (\S+) (\S+)\/(\S+) ([-\d/+]+) (?:(-?\d{3}|-1) )?\+?(\d+) (?:(\S+) (\S+) )?([-A-Za-z]{2,4}) (\S+) (\S+)(?: (?:\{[^}]*\} )*"((?:[^"\\]|\\.)*)")?/;
const OWN = /^\[(NOTICE|WARNING|ALERT|INFO|DEBUG|ERROR|EMERG)\] +(?:\((\d+)\) )?: ?(.*)$/s;

export function createHaproxyParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  const cache = new LastValueCache();
  return {
    name: 'haproxy',
    parse(line: string): LogRecord | undefined {
      const o = OWN.exec(line);
      if (o) {
        const message = o[3]!.trimEnd();
        const fields: Record<string, string> = { message, level_raw: o[1]! };
        if (o[2] !== undefined) fields.pid = o[2];
        const level = normalizeLevel(o[1]);
        return level ? { message, fields, level } : { message, fields };
      }
      const m = TRAFFIC.exec(line);
      if (!m) return undefined;
      const status = m[14];
      const term = m[18]!;
      const request = m[21];
      const message = request ?? `${m[10]} ${m[11]}/${m[12]} ${term}`;
      const fields: Record<string, string> = { client: m[1]!, client_port: m[2]!, frontend: m[10]!, backend: m[11]!, server: m[12]!, timers: m[13]!, bytes: m[15]!, termination_state: term, message };
      if (status !== undefined) fields.status = status;
      if (request !== undefined) fields.request = request;
      const code = status !== undefined ? Number(status) : NaN;
      let level = code >= 100 ? httpStatusLevel(code) : 'INFO';
      if (level === 'INFO' && term[0] !== '-') level = 'WARN';
      fields.level_raw = status ?? term;
      const rec: LogRecord = { message, fields, level };
      const key = line.slice(m[1]!.length + m[2]!.length + 3, line.indexOf(']'));
      const ts = cache.get(key, () => {
        const mo = MONTHS[m[4]!];
        return mo ? zone.toUtc(+m[5]!, mo, +m[3]!, +m[6]!, +m[7]!, +m[8]!, fractionMs(m[9])) : undefined;
      });
      if (ts !== undefined) rec.tsMs = ts;
      return rec;
    },
  };
}
