/** The normalized levels, lowest to highest. Every parser maps its raw token onto one of these. */
export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
export type Level = (typeof LEVELS)[number];

/**
 * The one mapping table from raw level tokens (any case) to the normalized levels; docs/logs.md
 * prints it. Words from every format we parse: syslog names (emerg … debug), log4j/logback,
 * java.util.logging (SEVERE, FINE…), .NET/Serilog (Information, Verbose, Fatal), Python
 * (CRITICAL), PostgreSQL (LOG, NOTICE, PANIC…), MariaDB (Note), Windows CBS (Info), the
 * three-letter tags of nats-server and Serilog (INF, WRN, ERR, DBG, TRC, FTL), and the single
 * letters of Android logcat and klog/glog (V D I W E F A).
 */
const TABLE: Record<string, Level> = {
  TRACE: 'TRACE', VERBOSE: 'TRACE', VRB: 'TRACE', V: 'TRACE', FINEST: 'TRACE', FINER: 'TRACE', T: 'TRACE', TRC: 'TRACE', TRAC: 'TRACE',
  DEBUG: 'DEBUG', D: 'DEBUG', FINE: 'DEBUG', DBG: 'DEBUG', DEBU: 'DEBUG', CONFIG: 'DEBUG',
  INFO: 'INFO', I: 'INFO', NOTICE: 'INFO', NOTE: 'INFO', INFORMATION: 'INFO', INFORMATIONAL: 'INFO', INF: 'INFO', LOG: 'INFO',
  WARN: 'WARN', W: 'WARN', WARNING: 'WARN', WRN: 'WARN',
  ERROR: 'ERROR', E: 'ERROR', ERR: 'ERROR', EROR: 'ERROR', SEVERE: 'ERROR', ERRORS: 'ERROR',
  FATAL: 'FATAL', F: 'FATAL', FTL: 'FATAL', A: 'FATAL', ASSERT: 'FATAL', CRIT: 'FATAL', CRT: 'FATAL', CRITICAL: 'FATAL', ALERT: 'FATAL', EMERG: 'FATAL', EMERGENCY: 'FATAL', PANIC: 'FATAL',
};

/** The table, for docs and tests. */
export const LEVEL_TABLE: Readonly<Record<string, Level>> = TABLE;

/** Apache 2.4 writes trace1..trace8; the digit carries no meaning for counting. */
const TRACE_N = /^TRACE\d$/;

/**
 * Maps a raw level token (any case: "warning", "E", "SEVERE", "trace3") to the normalized level,
 * or undefined when the token is not a level at all.
 */
export function normalizeLevel(raw: string | undefined | null): Level | undefined {
  if (!raw) return undefined;
  const direct = TABLE[raw];
  if (direct) return direct;
  const up = raw.toUpperCase();
  const hit = TABLE[up];
  if (hit) return hit;
  if (TRACE_N.test(up)) return 'TRACE';
  return undefined;
}

/** Syslog severities 0..7 (RFC 5424 §6.2.1): emerg/alert/crit are FATAL, err ERROR, warning WARN, notice/info INFO, debug DEBUG. */
export function syslogSeverityLevel(severity: number): Level {
  if (severity <= 2) return 'FATAL';
  if (severity === 3) return 'ERROR';
  if (severity === 4) return 'WARN';
  if (severity <= 6) return 'INFO';
  return 'DEBUG';
}

/** Access logs: 5xx is ERROR, 4xx WARN, anything else INFO. */
export function httpStatusLevel(status: number): Level {
  if (status >= 500) return 'ERROR';
  if (status >= 400) return 'WARN';
  return 'INFO';
}

/** pino/bunyan numeric levels (10 trace … 60 fatal). */
export function numericLevel(n: number): Level | undefined {
  if (!Number.isFinite(n)) return undefined;
  if (n >= 60) return 'FATAL';
  if (n >= 50) return 'ERROR';
  if (n >= 40) return 'WARN';
  if (n >= 30) return 'INFO';
  if (n >= 20) return 'DEBUG';
  if (n >= 10) return 'TRACE';
  return undefined;
}

// A level at the very start of a message counts only when it is marked as a header, not a
// word of prose: "[warn] …", "<E> …", "error: …", "WARNING| …". "ALERT exited abnormally"
// (logrotate) is a sentence that begins with a word, and has no level.
const HEAD_LEVEL = /^(?:\[([A-Za-z]{1,13})\]|<([A-Za-z]{1,13})>|([A-Za-z]{2,13})(?::|\s*\|))(?=\s|$)/;

/** The level a message announces in its own first token, if it is marked as one (see above). */
export function headerLevel(message: string): { level: Level; raw: string } | undefined {
  const c = message.charCodeAt(0);
  // Cheap exit: a header token starts with a letter, "[" or "<".
  if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 91 || c === 60)) return undefined;
  const m = HEAD_LEVEL.exec(message);
  if (!m) return undefined;
  const raw = m[1] ?? m[2] ?? m[3]!;
  // Single letters and PostgreSQL's LOG only inside brackets: "A:" or "Log:" begin sentences.
  if (m[3] !== undefined && raw.toUpperCase() === 'LOG') return undefined;
  const level = normalizeLevel(raw);
  return level ? { level, raw } : undefined;
}

/** Index of a level in LEVELS (for "at least WARN" comparisons). */
export function levelRank(l: Level): number {
  return LEVELS.indexOf(l);
}
