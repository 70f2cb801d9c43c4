import type { LineParser, ParserOptions } from '../record.js';
import { parseIsoLike } from '../timestamps.js';
import { definePreset } from './define.js';

// Rust: env_logger's default "[2026-12-02T12:00:00Z INFO  my_app::db] message" (the module
// path is optional), and tracing-subscriber's fmt "2026-12-02T12:00:00.123456Z  INFO my_app::db: message"
// (spans before the target, "span{a=1}:").
const RUST = /^(?:\[(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})) (TRACE|DEBUG|INFO|WARN|ERROR) *(?: ([^\]\s]+))?\] ?(.*)|(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})) +(TRACE|DEBUG|INFO|WARN|ERROR) (?:([\w]+\{[^}]*\}(?::[\w]+\{[^}]*\})*): )?([A-Za-z_]\w*(?:::\w+)*): (.*))$/s;

export function createRustParser(opts: ParserOptions = {}): LineParser {
  return definePreset(
    'rust',
    opts,
    RUST,
    (m) => (m[1] !== undefined ? { ts: m[1], level: m[2], message: m[4]!, fields: { target: m[3] } } : { ts: m[5], level: m[6], message: m[9]!, fields: { spans: m[7], target: m[8] } }),
    { time: (x, t) => parseIsoLike(x, t.zone), levelRequired: true },
  );
}
