import { httpStatusLevel, normalizeLevel, numericLevel, syslogSeverityLevel, type Level } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, parseIsoLike } from '../timestamps.js';

const TS_KEYS = ['ts', 'time', 'timestamp', '@timestamp', '@t', 'date', 'datetime', 't', '__REALTIME_TIMESTAMP'];
// @l: Serilog's compact JSON; PRIORITY: `journalctl -o json` (a syslog severity as a string).
const LEVEL_KEYS = ['level', 'lvl', 'severity', 'loglevel', 'log.level', '@l', 'levelname', 'PRIORITY', 'status'];
const MSG_KEYS = ['msg', 'message', 'MESSAGE', '@m', '@mt', 'log', 'text', 'event'];

/** One JSON object per line (pino, bunyan, zap, logrus, ECS…): well-known keys become ts, level and message. */
export function createJsonParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  return {
    name: 'json',
    parse(line: string): LogRecord | undefined {
      const start = line.indexOf('{');
      if (start < 0 || line.slice(0, start).trim() !== '') return undefined;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        return undefined;
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
      const o = obj as Record<string, unknown>;
      const fields: Record<string, string> = {};
      for (const [k, v] of Object.entries(o)) {
        if (v === null || v === undefined) continue;
        fields[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
      }
      let message = '';
      for (const k of MSG_KEYS) {
        if (typeof o[k] === 'string') {
          message = o[k];
          break;
        }
      }
      const rec: LogRecord = { message, fields };
      fields.message = message;
      for (const k of LEVEL_KEYS) {
        const v = k === 'log.level' ? ((o.log as Record<string, unknown> | undefined)?.level ?? o[k]) : o[k];
        let lvl: Level | undefined;
        if (k === 'PRIORITY') lvl = /^[0-7]$/.test(String(v)) ? syslogSeverityLevel(Number(v)) : undefined;
        else if (typeof v === 'string') lvl = normalizeLevel(v.trim());
        // A numeric `status` is an HTTP status (JSON access logs), not a pino level.
        else if (typeof v === 'number') lvl = k === 'status' ? (v >= 100 && v <= 599 ? httpStatusLevel(v) : undefined) : numericLevel(v);
        if (lvl) {
          rec.level = lvl;
          fields.level_raw = String(v);
          break;
        }
      }
      // Serilog leaves @l out for Information.
      if (!rec.level && typeof o['@t'] === 'string' && (typeof o['@mt'] === 'string' || typeof o['@m'] === 'string') && o['@l'] === undefined) {
        rec.level = 'INFO';
        fields.level_raw = 'Information';
      }
      for (const k of TS_KEYS) {
        const v = o[k];
        if (k === '__REALTIME_TIMESTAMP') {
          // Microseconds since the epoch, as a string.
          if (typeof v === 'string' && /^\d{13,17}$/.test(v)) {
            rec.tsMs = Math.floor(Number(v) / 1000);
            break;
          }
          continue;
        }
        let ms: number | undefined;
        // Epoch numbers: below 1e11 they are seconds (until year 5138), else milliseconds.
        if (typeof v === 'number' && Number.isFinite(v)) ms = v < 1e11 ? Math.round(v * 1000) : Math.round(v);
        else if (typeof v === 'string') ms = parseIsoLike(v, zone) ?? parseLoose(v);
        if (ms !== undefined) {
          rec.tsMs = ms;
          break;
        }
      }
      return rec;
    },
  };
}

function parseLoose(v: string): number | undefined {
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}
