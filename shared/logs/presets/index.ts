import type { LineParser, ParserOptions } from '../record.js';
import { createApacheAccessParser } from './apache-access.js';
import { createApacheErrorParser } from './apache-error.js';
import { createAutoParser } from './auto.js';
import { createJsonParser } from './json.js';
import { createLog4jParser } from './log4j.js';
import { createNginxAccessParser } from './nginx-access.js';
import { createNginxErrorParser } from './nginx-error.js';
import { createSyslogParser } from './syslog.js';

/** Every preset, one file each; add a format by adding a file and a row here. */
export const PRESETS = {
  syslog: { describe: 'syslog RFC 3164 (BSD), RFC 5424, rsyslog RFC 3339 file format', create: createSyslogParser },
  nginx_access: { describe: 'nginx access log, combined format', create: createNginxAccessParser },
  apache_access: { describe: 'Apache httpd access log, combined/common format', create: createApacheAccessParser },
  nginx_error: { describe: 'nginx error log', create: createNginxErrorParser },
  apache_error: { describe: 'Apache httpd error log (2.2 and 2.4)', create: createApacheErrorParser },
  log4j: { describe: 'Java-style: timestamp, level, thread, logger (log4j, logback, Hadoop)', create: createLog4jParser },
  json: { describe: 'one JSON object per line', create: createJsonParser },
  auto: { describe: 'detect the layout and a level token', create: createAutoParser },
} as const satisfies Record<string, { describe: string; create: (o?: ParserOptions) => LineParser }>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function isPresetName(s: string): s is PresetName {
  return Object.hasOwn(PRESETS, s);
}
