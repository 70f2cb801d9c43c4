import type { LineParser, ParserOptions } from '../record.js';
import { parseIsoLike } from '../timestamps.js';
import { definePreset } from './define.js';

// Python's logging module: logging.basicConfig()'s "LEVEL:name:message", and the format of
// the Python docs' examples "%(asctime)s - %(name)s - %(levelname)s - %(message)s".
const PY = /^(?:(DEBUG|INFO|WARNING|ERROR|CRITICAL):([^:]*):(.*)|(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:,\d{3})?) - (\S+) - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - (.*))$/s;

export function createPythonParser(opts: ParserOptions = {}): LineParser {
  return definePreset(
    'python',
    opts,
    PY,
    (m) => (m[1] !== undefined ? { level: m[1], message: m[3]!, fields: { logger: m[2] } } : { ts: m[4], level: m[6], message: m[7]!, fields: { logger: m[5] } }),
    { time: (x, t) => parseIsoLike(x, t.zone), levelRequired: true },
  );
}
