import { numericLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, parseIsoLike } from '../timestamps.js';
import { normalizeLevel } from '../levels.js';

// logfmt: key=value pairs, values bare or double-quoted with backslash escapes. Go's
// log/slog TextHandler ("time=… level=INFO msg=… k=v"), logrus' text formatter without a TTY
// (time="…" level=info msg="…"), Heroku, Grafana Loki and Prometheus all write it.
const PAIR = /([A-Za-z_@][\w.@-]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
const LEVEL_KEYS = ['level', 'lvl', 'severity', 'loglevel'];
const MSG_KEYS = ['msg', 'message'];
const TS_KEYS = ['time', 'ts', 'timestamp', 't'];

export function createLogfmtParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  return {
    name: 'logfmt',
    parse(line: string): LogRecord | undefined {
      // A logfmt line starts with a key: cheap test before the scan.
      const eq = line.indexOf('=');
      if (eq <= 0 || line.charCodeAt(0) === 32) return undefined;
      const fields: Record<string, string> = {};
      let n = 0;
      let covered = 0;
      PAIR.lastIndex = 0;
      for (let m = PAIR.exec(line); m; m = PAIR.exec(line)) {
        if (m.index !== covered && line.slice(covered, m.index).trim() !== '') return undefined;
        const v = m[2]!;
        fields[m[1]!] = v.startsWith('"') ? unquote(v) : v;
        covered = m.index + m[0].length;
        n++;
      }
      if (n < 2 || line.slice(covered).trim() !== '') return undefined;
      let levelKey: string | undefined;
      for (const k of LEVEL_KEYS) if (fields[k] !== undefined) levelKey ??= k;
      const msgKey = MSG_KEYS.find((k) => fields[k] !== undefined);
      if (!levelKey && !msgKey) return undefined;
      const message = msgKey ? fields[msgKey]! : '';
      if (msgKey) delete fields[msgKey];
      fields.message = message;
      const rec: LogRecord = { message, fields };
      if (levelKey) {
        const raw = fields[levelKey]!;
        const lvl = /^\d+$/.test(raw) ? numericLevel(Number(raw)) : normalizeLevel(raw.replace(/[+-]\d+$/, ''));
        if (lvl) {
          rec.level = lvl;
          fields.level_raw = raw;
        }
      }
      for (const k of TS_KEYS) {
        const v = fields[k];
        if (v === undefined) continue;
        const ms = parseIsoLike(v, zone) ?? (Number.isNaN(Date.parse(v)) ? undefined : Date.parse(v));
        if (ms !== undefined) {
          rec.tsMs = ms;
          break;
        }
      }
      return rec;
    },
  };
}

function unquote(v: string): string {
  try {
    return JSON.parse(v) as string;
  } catch {
    return v.slice(1, -1);
  }
}
