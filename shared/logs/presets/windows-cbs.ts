import type { LineParser, ParserOptions } from '../record.js';
import { parseIsoLike } from '../timestamps.js';
import { definePreset } from './define.js';

// Windows Component-Based Servicing logs (CBS.log, DISM.log): "2016-09-28 04:30:30, Info                  CBS    message".
const CBS = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}), (Info|Warning|Error|Perf|Debug|Fatal)\s+(\S+)\s+(.*)$/s;

export function createWindowsCbsParser(opts: ParserOptions = {}): LineParser {
  return definePreset('windows_cbs', opts, CBS, (m) => ({ ts: m[1], level: m[2] === 'Perf' ? 'Debug' : m[2], message: m[4]!, fields: { component: m[3] } }), {
    time: (x, t) => parseIsoLike(x, t.zone),
    levelRequired: true,
  });
}
