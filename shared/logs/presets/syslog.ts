import { syslogSeverityLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, inferYear, LastValueCache, MONTHS, parseIsoLike } from '../timestamps.js';

// RFC 3164: "<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG"; the PRI is often stripped by the
// writer (files written by rsyslog/syslogd have none). The tag may contain spaces
// ("syslogd 1.4.1") and parentheses ("sshd(pam_unix)").
const RFC3164 = /^(?:<(\d{1,3})>)?([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\S+) +([^:[]*?)(?:\[(\d+)\])?: ?(.*)$/s;
// rsyslog's high-precision file format (RSYSLOG_FileFormat): RFC 3339 time instead of "Mmm dd".
const RFC3339_FILE = /^(?:<(\d{1,3})>)?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) (\S+) +([^:[]*?)(?:\[(\d+)\])?: ?(.*)$/s;
// RFC 5424: "<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...]|- MSG".
const RFC5424 = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?$/s;

/** Syslog, RFC 3164 (BSD) and RFC 5424, with year inference and a configurable zone for 3164. */
export function createSyslogParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  const now = opts.now ?? Date.now;
  const tsCache = new LastValueCache();
  const isoUtc = compileZone('UTC');
  return {
    name: 'syslog',
    parse(line: string): LogRecord | undefined {
      if (line.charCodeAt(0) === 60 /* < */ && line.charCodeAt(line.indexOf('>') + 1) === 49 /* 1 */) {
        const m = RFC5424.exec(line);
        if (m) return fromRfc5424(m, isoUtc);
      }
      const m = RFC3164.exec(line);
      if (!m) {
        const f = RFC3339_FILE.exec(line);
        return f ? fromFileFormat(f, zone) : undefined;
      }
      const mo = MONTHS[m[2]!];
      if (!mo) return undefined;
      const fields: Record<string, string> = { host: m[7]!, program: m[8]! };
      if (m[9] !== undefined) fields.pid = m[9];
      const message = m[10]!.trim();
      fields.message = message;
      const tsText = `${m[2]} ${m[3]} ${m[4]}:${m[5]}:${m[6]}`;
      const tsMs = tsCache.get(tsText, () => {
        const d = Number(m[3]);
        const y = opts.year ?? inferYear(mo, d, now());
        return zone.toUtc(y, mo, d, Number(m[4]), Number(m[5]), Number(m[6]), 0);
      });
      const rec: LogRecord = { message, fields };
      if (tsMs !== undefined) rec.tsMs = tsMs;
      if (m[1] !== undefined) applyPri(rec, Number(m[1]));
      return rec;
    },
  };
}

function fromFileFormat(m: RegExpExecArray, zone: ReturnType<typeof compileZone>): LogRecord | undefined {
  const message = m[6]!.trim();
  const fields: Record<string, string> = { host: m[3]!, program: m[4]!, message };
  if (m[5] !== undefined) fields.pid = m[5];
  const rec: LogRecord = { message, fields };
  const ts = parseIsoLike(m[2]!, zone);
  if (ts !== undefined) rec.tsMs = ts;
  if (m[1] !== undefined) applyPri(rec, Number(m[1]));
  return rec;
}

function applyPri(rec: LogRecord, pri: number): void {
  const sev = pri & 7;
  rec.level = syslogSeverityLevel(sev);
  rec.fields.facility = String(pri >> 3);
  rec.fields.severity = String(sev);
  rec.fields.level_raw = SEVERITY_NAMES[sev]!;
}

const SEVERITY_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

function fromRfc5424(m: RegExpExecArray, utc: ReturnType<typeof compileZone>): LogRecord | undefined {
  const nil = (s: string) => (s === '-' ? undefined : s);
  const fields: Record<string, string> = {};
  const host = nil(m[3]!);
  const app = nil(m[4]!);
  const procid = nil(m[5]!);
  const msgid = nil(m[6]!);
  if (host) fields.host = host;
  if (app) fields.program = app;
  if (procid) fields.pid = procid;
  if (msgid) fields.msgid = msgid;
  if (m[7] !== '-') fields.structured_data = m[7]!;
  // A UTF-8 BOM may introduce the message (RFC 5424 §6.4).
  const message = (m[8] ?? '').replace(/^\uFEFF/, '').trimEnd();
  fields.message = message;
  const rec: LogRecord = { message, fields };
  const ts = nil(m[2]!);
  if (ts) {
    const ms = parseIsoLike(ts, utc);
    if (ms !== undefined) rec.tsMs = ms;
  }
  applyPri(rec, Number(m[1]));
  return rec;
}
