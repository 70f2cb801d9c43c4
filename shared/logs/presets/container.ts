import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, parseIsoLike } from '../timestamps.js';

/**
 * Container runtimes wrap each line a program wrote: Docker's json-file driver as
 * `{"log":"…\n","stream":"stderr","time":"…"}`, Kubernetes CRI (containerd, CRI-O) as
 * `2026-12-02T12:00:00.123456789Z stderr F …` (F full line, P partial). The level is the
 * program's, so the payload goes through `inner` (auto detection on the payloads of this file);
 * stderr is not a level. The runtime's time is kept: it is always there and exact.
 */
function unwrap(name: string, payload: string, stream: string | undefined, tsMs: number | undefined, inner: LineParser, extra?: Record<string, string>): LogRecord {
  const r = inner.parse(payload);
  const message = r ? r.message : payload.trimEnd();
  const fields: Record<string, string> = r ? { ...r.fields } : {};
  if (r?.fields.detected) fields.inner_format = r.fields.detected;
  delete fields.detected;
  if (stream) fields.stream = stream;
  if (extra) Object.assign(fields, extra);
  fields.message = message;
  const rec: LogRecord = { message, fields };
  if (r?.level) rec.level = r.level;
  const ts = tsMs ?? r?.tsMs;
  if (ts !== undefined) rec.tsMs = ts;
  void name;
  return rec;
}

export function createDockerJsonParser(opts: ParserOptions, inner: LineParser): LineParser {
  const utc = compileZone('UTC');
  return {
    name: 'docker_json',
    parse(line: string): LogRecord | undefined {
      if (!line.startsWith('{"log":')) return undefined;
      let o: { log?: unknown; stream?: unknown; time?: unknown };
      try {
        o = JSON.parse(line) as typeof o;
      } catch {
        return undefined;
      }
      if (typeof o.log !== 'string') return undefined;
      const payload = o.log.endsWith('\n') ? o.log.slice(0, -1) : o.log;
      const ts = typeof o.time === 'string' ? parseIsoLike(o.time.replace(/(\.\d{3})\d+/, '$1'), utc) : undefined;
      return unwrap('docker_json', payload.replace(/\r$/, ''), typeof o.stream === 'string' ? o.stream : undefined, ts, inner, o.log.endsWith('\n') ? undefined : { partial: 'true' });
    },
  };
  void opts;
}

const CRI = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) (stdout|stderr) ([FP]) ?(.*)$/s;

export function createCriParser(opts: ParserOptions, inner: LineParser): LineParser {
  const utc = compileZone('UTC');
  void opts;
  return {
    name: 'cri',
    parse(line: string): LogRecord | undefined {
      const m = CRI.exec(line);
      if (!m) return undefined;
      const ts = parseIsoLike(m[1]!.replace(/(\.\d{3})\d+/, '$1'), utc);
      return unwrap('cri', m[4]!, m[2], ts, inner, m[3] === 'P' ? { partial: 'true' } : undefined);
    },
  };
}
