import type { LineParser, ParserOptions } from '../record.js';
import { createApacheAccessParser } from './apache-access.js';
import { createApacheErrorParser } from './apache-error.js';
import { createAutoParser } from './auto.js';
import { createCriParser, createDockerJsonParser } from './container.js';
import { createGoLogParser } from './go-log.js';
import { createHaproxyParser } from './haproxy.js';
import { createJournaldParser } from './journald.js';
import { createKlogParser } from './klog.js';
import { createLogcatParser } from './logcat.js';
import { createLogfmtParser } from './logfmt.js';
import { createMysqlParser } from './mysql.js';
import { createNatsServerParser } from './nats-server.js';
import { createPostgresParser } from './postgres.js';
import { createPythonParser } from './python.js';
import { createRedisParser } from './redis.js';
import { createRustParser } from './rust.js';
import { createWindowsCbsParser } from './windows-cbs.js';
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
  json: { describe: 'one JSON object per line (pino, bunyan, zap, ECS, Serilog compact, journalctl -o json)', create: createJsonParser },
  logfmt: { describe: 'key=value pairs: Go log/slog TextHandler, logrus, Loki, Prometheus', create: createLogfmtParser },
  logcat: { describe: 'Android logcat, threadtime and brief', create: createLogcatParser },
  klog: { describe: 'klog/glog (Kubernetes): Lmmdd hh:mm:ss.uuuuuu tid file:line] msg', create: createKlogParser },
  python: { describe: 'Python logging: LEVEL:name:msg and "asctime - name - LEVEL - msg"', create: createPythonParser },
  go_log: { describe: 'Go log package and the log/slog default handler', create: createGoLogParser },
  rust: { describe: 'Rust env_logger and tracing-subscriber fmt', create: createRustParser },
  postgres: { describe: "PostgreSQL, log_line_prefix '%m [%p] ' (and Debian's '%m [%p] %q%u@%d ')", create: createPostgresParser },
  mysql: { describe: 'MySQL 5/8 and MariaDB error log', create: createMysqlParser },
  redis: { describe: 'Redis server log (pid:role time marker msg)', create: createRedisParser },
  nats_server: { describe: "nats-server's log ([INF] [WRN] [ERR] …)", create: createNatsServerParser },
  haproxy: { describe: 'HAProxy HTTP/TCP log lines (raw format) and its own [NOTICE]/[WARNING]/[ALERT] messages', create: createHaproxyParser },
  journald: { describe: 'journalctl -o short-iso (no levels in this format; use -o json with the json preset)', create: createJournaldParser },
  docker_json: { describe: "Docker json-file driver; the program's own format is detected inside", create: (o: ParserOptions = {}) => createDockerJsonParser(o, createAutoParser(o)) },
  cri: { describe: "Kubernetes CRI container logs (containerd, CRI-O); the program's format is detected inside", create: (o: ParserOptions = {}) => createCriParser(o, createAutoParser(o)) },
  windows_cbs: { describe: 'Windows CBS/DISM: "date, Level   Component   message"', create: createWindowsCbsParser },
  auto: { describe: 'detect the format of each file from a sample of its lines; otherwise a level token in the header', create: createAutoParser },
} as const satisfies Record<string, { describe: string; create: (o?: ParserOptions) => LineParser }>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function isPresetName(s: string): s is PresetName {
  return Object.hasOwn(PRESETS, s);
}
