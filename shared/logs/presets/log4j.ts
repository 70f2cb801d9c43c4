import { normalizeLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, fractionMs, LastValueCache, parseIsoLike, type Zone } from '../timestamps.js';

// Java-style layouts, one regex for the common PatternLayouts:
//   "%d %p [%t] %c - %m"   2024-01-02 03:04:05,123 ERROR [main] com.acme.Foo - message
//   "%d [%t] %p %c - %m"   2024-01-02 03:04:05,123 [main] ERROR com.acme.Foo - message
//   "[%d] %p %m (%c)"      [2024-01-02 03:04:05,123] INFO message (kafka.Log)
//   Hadoop/HDFS           081109 203615 148 INFO dfs.DataNode$PacketResponder: message
// Groups: 1 ts, 2 pid, 3 thread, 4 level, 5 thread (after level), 6 logger, 7 message.
const LOG4J = /^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?|\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d{1,3})?|\d{6} \d{6}(?:[.,]\d{1,3})?)\]?\s+(?:(\d+)\s+)?(?:\[([^\]]*)\]\s+)?([A-Za-z]+)\s+(?:\[([^\]]*)\]\s+)?(?:([A-Za-z_$][\w$.]*(?:\[[^\]]*\])?)(?::| -)(?:\s+|$))?(.*)$/s;
const SLASH = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,3}))?$/;
const COMPACT = /^(\d{2})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2})(?:[.,](\d{1,3}))?$/;

export function parseLog4jTime(text: string, zone: Zone): number | undefined {
  // Pick the form by its shape first: this runs once per distinct second of the file.
  const sep = text.charCodeAt(4);
  if (sep === 45 /* - */) return parseIsoLike(text, zone);
  const m = sep === 47 /* / */ ? SLASH.exec(text) : COMPACT.exec(text);
  if (!m) return undefined;
  const y = m[1]!.length === 2 ? 2000 + Number(m[1]) : Number(m[1]);
  return zone.toUtc(y, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), fractionMs(m[7]));
}

/** log4j/logback/java.util.logging-style lines: timestamp, level, optional thread and logger. */
export function createLog4jParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  const cache = new LastValueCache();
  return {
    name: 'log4j',
    parse(line: string): LogRecord | undefined {
      const m = LOG4J.exec(line);
      if (!m) return undefined;
      const level = normalizeLevel(m[4]);
      if (!level) return undefined;
      const message = m[7]!.trimEnd();
      const fields: Record<string, string> = { level_raw: m[4]!, message };
      if (m[2] !== undefined) fields.pid = m[2];
      const thread = m[3] ?? m[5];
      if (thread !== undefined) fields.thread = thread;
      if (m[6] !== undefined) fields.logger = m[6];
      const rec: LogRecord = { message, fields, level };
      const ts = cache.get(m[1]!, (t) => parseLog4jTime(t, zone));
      if (ts !== undefined) rec.tsMs = ts;
      return rec;
    },
  };
}
