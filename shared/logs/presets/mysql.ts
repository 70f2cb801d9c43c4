import type { LineParser, ParserOptions } from '../record.js';
import { parseIsoLike } from '../timestamps.js';
import { definePreset, wall } from './define.js';

// MySQL/MariaDB error log. MariaDB 10.x: "2026-12-02 12:29:15 0 [Note] msg"; MySQL 8:
// "2026-12-02T12:29:15.123456Z 0 [Warning] [MY-010068] [Server] msg"; MySQL 5.x and old
// MariaDB: "261202 12:29:15 [Note] msg" (yyMMdd, no thread id).
const MYSQL = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?|\d{6} {1,2}\d{1,2}:\d{2}:\d{2})(?: (\d+))? \[(Note|Warning|ERROR|Error|System|Info|Debug)\](?: \[(MY-\d+)\])?(?: \[([A-Za-z]+)\])? ?(.*)$/s;
const OLD = /^(\d{2})(\d{2})(\d{2}) {1,2}(\d{1,2}):(\d{2}):(\d{2})$/;

export function createMysqlParser(opts: ParserOptions = {}): LineParser {
  return definePreset('mysql', opts, MYSQL, (m) => ({ ts: m[1], level: m[3] === 'System' ? 'INFO' : m[3], message: m[6]!, fields: { thread: m[2], code: m[4], subsystem: m[5] } }), {
    time: (x, t) => {
      const o = OLD.exec(x);
      if (o) return wall(t, 2000 + +o[1]!, +o[2]!, +o[3]!, +o[4]!, +o[5]!, +o[6]!);
      return parseIsoLike(x, t.zone);
    },
    levelRequired: true,
  });
}
