import type { LineParser, ParserOptions } from '../record.js';
import { definePreset, wall } from './define.js';

// "[2950] 2026/12/02 12:02:34.699533 [INF] Starting nats-server"; the pid and the time are
// optional (`logtime: false`, or logging to stdout under a supervisor).
const NATS = /^(?:\[(\d+)\] )?(?:(\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) )?\[(INF|WRN|ERR|DBG|TRC|FTL|SYS)\] ?(.*)$/s;
const TS = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;

/** nats-server's own log (levels INF WRN ERR DBG TRC FTL); the time is local to the server. */
export function createNatsServerParser(opts: ParserOptions = {}): LineParser {
  return definePreset('nats_server', opts, NATS, (m) => ({ ts: m[2], level: m[3] === 'SYS' ? 'INF' : m[3], message: m[4]!, fields: { pid: m[1] } }), {
    time: (x, t) => {
      const m = TS.exec(x);
      return m ? wall(t, +m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, m[7]) : undefined;
    },
    levelRequired: true,
  });
}
