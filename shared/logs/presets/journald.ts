import type { LineParser, ParserOptions } from '../record.js';
import { parseIsoLike } from '../timestamps.js';
import { definePreset } from './define.js';

// `journalctl -o short-iso`: "2026-12-02T12:00:00+0000 host unit[pid]: message" (and
// short-iso-precise with microseconds). The text format carries no priority: use
// `journalctl -o json` for levels (the json preset reads PRIORITY).
const SHORT_ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})) (\S+) ([^:[\s]+(?:[^:[]*?))(?:\[(\d+)\])?: (.*)$/s;

export function createJournaldParser(opts: ParserOptions = {}): LineParser {
  return definePreset('journald', opts, SHORT_ISO, (m) => ({ ts: m[1], message: m[5]!, fields: { host: m[2], program: m[3], pid: m[4] } }), {
    time: (x, t) => parseIsoLike(x, t.zone),
  });
}
