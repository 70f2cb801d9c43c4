import { normalizeLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, LastValueCache } from '../timestamps.js';

// "2024/01/02 03:04:05 [error] 1234#5678: *99 open() "/x" failed (2: No such file or directory), client: 1.2.3.4, server: a, request: "GET / HTTP/1.1", host: "a""
const NGINX_ERROR = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2}) \[([a-z]+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)$/s;
const CONTEXT = /, (client|server|request|upstream|host|referrer): ("(?:[^"\\]|\\.)*"|[^,]*)/g;

/** nginx error log; the time is local to the server, so the zone applies. */
export function createNginxErrorParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  const cache = new LastValueCache();
  return {
    name: 'nginx_error',
    parse(line: string): LogRecord | undefined {
      const m = NGINX_ERROR.exec(line);
      if (!m) return undefined;
      const level = normalizeLevel(m[7]);
      if (!level) return undefined;
      const message = m[11]!.trimEnd();
      const fields: Record<string, string> = { level_raw: m[7]!, pid: m[8]!, tid: m[9]!, message };
      if (m[10] !== undefined) fields.connection = m[10];
      // The context nginx appends (client, server, request, host) becomes fields of its own.
      if (message.includes(', client: ') || message.includes(', server: ')) {
        for (const c of message.matchAll(CONTEXT)) {
          const v = c[2]!;
          fields[c[1]!] = v.startsWith('"') ? v.slice(1, -1) : v;
        }
      }
      const rec: LogRecord = { message, fields, level };
      const ts = cache.get(line.slice(0, 19), () => zone.toUtc(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), 0));
      if (ts !== undefined) rec.tsMs = ts;
      return rec;
    },
  };
}
