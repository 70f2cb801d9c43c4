import type { LineParser, ParserOptions } from '../record.js';
import { definePreset, wall } from './define.js';

// Go's standard `log` package ("2026/12/02 12:00:00 message", optionally with microseconds and
// a file:line) and log/slog's default handler, which writes through it with the level after
// the time ("2026/12/02 12:00:00 INFO message k=v"). Plain `log` lines carry no level.
const GO = /^(\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) (?:(\S+\.go:\d+): )?(?:(DEBUG|INFO|WARN|ERROR)(?:[+-]\d+)? )?(.*)$/s;
const TS = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;

export function createGoLogParser(opts: ParserOptions = {}): LineParser {
  return definePreset('go_log', opts, GO, (m) => (m[4]!.startsWith('[') ? undefined : { ts: m[1], level: m[3], message: m[4]!, fields: { source: m[2] } }), {
    time: (x, t) => {
      const m = TS.exec(x);
      return m ? wall(t, +m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, m[7]) : undefined;
    },
  });
}
