import type { Level } from '../levels.js';
import type { LineParser, ParserOptions } from '../record.js';
import { definePreset, MONTHS, wall } from './define.js';

// "29864:M 02 Dec 2026 12:28:02.102 * Ready to accept connections" — pid, role (X sentinel,
// C child, S replica, M master), time, then a marker for the level.
const REDIS = /^(\d+):([XCSM]) (\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) ([.\-*#]) (.*)$/s;
const TS = /^(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;
/** Redis markers: "." debug, "-" verbose, "*" notice, "#" warning (redis.conf `loglevel`). */
const MARKERS: Record<string, Level> = { '.': 'DEBUG', '-': 'DEBUG', '*': 'INFO', '#': 'WARN' };
const ROLES: Record<string, string> = { X: 'sentinel', C: 'child', S: 'replica', M: 'master' };

export function createRedisParser(opts: ParserOptions = {}): LineParser {
  return definePreset('redis', opts, REDIS, (m) => ({ ts: m[3], level: m[4], message: m[5]!, fields: { pid: m[1], role: ROLES[m[2]!] } }), {
    time: (x, t) => {
      const m = TS.exec(x);
      const mo = m ? MONTHS[m[2]!] : undefined;
      return m && mo ? wall(t, +m[3]!, mo, +m[1]!, +m[4]!, +m[5]!, +m[6]!, m[7]) : undefined;
    },
    level: (raw) => MARKERS[raw],
    levelRequired: true,
  });
}
