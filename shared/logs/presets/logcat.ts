import type { LineParser, ParserOptions } from '../record.js';
import { definePreset, wall } from './define.js';

// Android logcat. threadtime (the default): "12-02 12:00:00.123  1234  5678 I Tag: msg" (a
// year in front with `-v year`); brief: "I/Tag( 1234): msg". Levels V D I W E F A (assert).
const LOGCAT = /^(?:(?:(\d{4})-)?(\d{2})-(\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) +(\d+) +(\d+) ([VDIWEFA]) (.*?)\s*: (.*)|([VDIWEFA])\/([^(]*?)\(\s*(\d+)\): (.*))$/s;
const TS = /^(?:(\d{4})-)?(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;

export function createLogcatParser(opts: ParserOptions = {}): LineParser {
  return definePreset(
    'logcat',
    opts,
    LOGCAT,
    (m) =>
      m[7] !== undefined
        ? { ts: `${m[1] ? `${m[1]}-` : ''}${m[2]}-${m[3]} ${m[4]}`, level: m[7], message: m[9]!, fields: { pid: m[5], tid: m[6], tag: m[8] } }
        : { level: m[10], message: m[13]!, fields: { tag: m[11]!.trim(), pid: m[12] } },
    {
      time: (x, t) => {
        const m = TS.exec(x);
        if (!m) return undefined;
        const mo = +m[2]!;
        const d = +m[3]!;
        return wall(t, m[1] ? +m[1] : t.year(mo, d), mo, d, +m[4]!, +m[5]!, +m[6]!, m[7]);
      },
      levelRequired: true,
    },
  );
}
