import type { LineParser, ParserOptions } from '../record.js';
import { definePreset, wall } from './define.js';

// klog/glog (Kubernetes components, Go programs using glog): "Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg".
const KLOG = /^([IWEF])(\d{2})(\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) +(\d+) ([^ \]:]+):(\d+)\] ?(.*)$/s;
const TS = /^(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;

/** klog/glog header; the year is not written, so it is inferred like syslog's. */
export function createKlogParser(opts: ParserOptions = {}): LineParser {
  return definePreset('klog', opts, KLOG, (m) => ({ ts: `${m[2]}${m[3]} ${m[4]}`, level: m[1], message: m[8]!, fields: { thread: m[5], source: `${m[6]}:${m[7]}` } }), {
    time: (x, t) => {
      const m = TS.exec(x);
      return m ? wall(t, t.year(+m[1]!, +m[2]!), +m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, m[6]) : undefined;
    },
    levelRequired: true,
  });
}
