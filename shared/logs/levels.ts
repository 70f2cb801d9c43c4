/** The normalized levels, lowest to highest. Every parser maps its raw token onto one of these. */
export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
export type Level = (typeof LEVELS)[number];

const TABLE: Record<string, Level> = {
  TRACE: 'TRACE', VERBOSE: 'TRACE', V: 'TRACE', FINEST: 'TRACE', FINER: 'TRACE', T: 'TRACE',
  DEBUG: 'DEBUG', D: 'DEBUG', FINE: 'DEBUG', DBG: 'DEBUG', CONFIG: 'DEBUG',
  INFO: 'INFO', I: 'INFO', NOTICE: 'INFO', INFORMATION: 'INFO', INFORMATIONAL: 'INFO', INF: 'INFO',
  WARN: 'WARN', W: 'WARN', WARNING: 'WARN', WRN: 'WARN',
  ERROR: 'ERROR', E: 'ERROR', ERR: 'ERROR', SEVERE: 'ERROR', ERRORS: 'ERROR',
  FATAL: 'FATAL', F: 'FATAL', CRIT: 'FATAL', CRITICAL: 'FATAL', ALERT: 'FATAL', EMERG: 'FATAL', EMERGENCY: 'FATAL', PANIC: 'FATAL',
};

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

/** Index of a level in LEVELS (for "at least WARN" comparisons). */
export function levelRank(l: Level): number {
  return LEVELS.indexOf(l);
}
