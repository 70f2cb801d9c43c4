import { OpsError } from '../../errors.js';
import { headerLevel, normalizeLevel } from '../levels.js';
import type { LineParser, LogRecord, ParserOptions } from '../record.js';
import { compileZone, parseIsoLike } from '../timestamps.js';
import { createApacheErrorParser } from './apache-error.js';
import { createCombinedAccessParser } from './combined-access.js';
import { createCriParser, createDockerJsonParser } from './container.js';
import { createGoLogParser } from './go-log.js';
import { createHaproxyParser } from './haproxy.js';
import { createJournaldParser } from './journald.js';
import { createJsonParser } from './json.js';
import { createKlogParser } from './klog.js';
import { createLog4jParser } from './log4j.js';
import { createLogcatParser } from './logcat.js';
import { createLogfmtParser } from './logfmt.js';
import { createMysqlParser } from './mysql.js';
import { createNatsServerParser } from './nats-server.js';
import { createNginxErrorParser } from './nginx-error.js';
import { createPostgresParser } from './postgres.js';
import { createPythonParser } from './python.js';
import { createRedisParser } from './redis.js';
import { createRustParser } from './rust.js';
import { createSyslogParser } from './syslog.js';
import { createWindowsCbsParser } from './windows-cbs.js';

/** Lines looked at before the format of a file is fixed. */
export const SAMPLE_LINES = 32;
/** Consecutive lines the fixed format misses before the file is looked at again (concatenated files). */
const RELEARN_AFTER_MISSES = 256;
/** Below this share of the sample no format fits and the generic header scan is used. */
const MIN_FIT = 0.3;

/**
 * Candidates, most specific first: on a tie in the sample the earlier wins (tracing-subscriber
 * lines also fit the log4j layout, nginx error lines Go's log layout).
 */
function candidates(opts: ParserOptions): LineParser[] {
  return [
    createDockerJsonParser(opts, createAutoParser(opts)),
    createCriParser(opts, createAutoParser(opts)),
    createJsonParser(opts),
    createNatsServerParser(opts),
    createRedisParser(opts),
    createKlogParser(opts),
    createLogcatParser(opts),
    createPostgresParser(opts),
    createMysqlParser(opts),
    createPythonParser(opts),
    createRustParser(opts),
    createWindowsCbsParser(opts),
    createHaproxyParser(opts),
    createLog4jParser(opts),
    createApacheErrorParser(opts),
    createNginxErrorParser(opts),
    createCombinedAccessParser('access', opts),
    createGoLogParser(opts),
    createJournaldParser(opts),
    createSyslogParser(opts),
    createLogfmtParser(opts),
  ];
}

/** Formats whose header has no level: the message's own first token may carry one ("error: …", "[warn] …"). */
const HEADER_IN_MESSAGE = new Set(['syslog', 'journald', 'go_log']);

/** What auto adds to a record of the format it chose: the format's name, and a level from the message head where the format has none. */
function finish(rec: LogRecord, via: string): LogRecord {
  rec.fields.detected = via;
  if (!rec.level && HEADER_IN_MESSAGE.has(via)) {
    const h = headerLevel(rec.message);
    if (h) {
      rec.level = h.level;
      rec.fields.level_raw = h.raw;
    }
  }
  return rec;
}

/** True when auto takes a level from the message head for this format (syslog, journald, go_log). */
export function levelFromMessageHead(format: string): boolean {
  return HEADER_IN_MESSAGE.has(format);
}

/**
 * Auto with its format already chosen (by the caller, from the file's head): what the worker
 * threads of `opsctl logs analyze` run, so every chunk parses as the single pass does after
 * its sample — the format, then the generic header scan for the lines it misses. Unlike auto
 * it never looks at the file again after RELEARN_AFTER_MISSES misses (a chunk cannot know the
 * misses before it).
 */
export function createLockedParser(format: string, opts: ParserOptions = {}): LineParser {
  const generic = createGenericParser(opts);
  const chosen = format === 'generic' ? generic : candidates(opts).find((p) => p.name === format);
  if (!chosen) throw new OpsError('OPS_ERR_LOGS_PRESET', `no format "${format}" among auto's candidates`);
  return {
    name: 'auto',
    parse(line: string): LogRecord | undefined {
      const r = chosen.parse(line);
      if (r) return finish(r, format);
      if (chosen === generic) return undefined;
      const g = generic.parse(line);
      return g ? finish(g, 'generic') : undefined;
    },
  };
}

export interface AutoParser extends LineParser {
  /** The format chosen from the sample ("generic" when none fits), undefined while still sampling. */
  readonly format: string | undefined;
  /** The format as decided so far, without forcing a decision while sampling (for callers that watch it per line). */
  readonly decided: string | undefined;
  /**
   * A line the decided format fits was taken by that format's byte scanner instead of parse()
   * (the agent's tail counts it without a record): ends a run of misses as parse() would.
   */
  hit(): void;
}

/**
 * When no preset is configured. The format is chosen per parser instance (one per file in
 * `opsctl logs analyze`) from its first SAMPLE_LINES lines — not per line: every candidate
 * parses the sample and the one that fits most lines wins. While sampling, each line gets the
 * result of the best candidate so far that fits it. Lines the chosen format does not fit go to
 * the generic header scan (a level token in the header, a leading ISO time); the level is never
 * taken from the message body.
 */
export function createAutoParser(opts: ParserOptions = {}): AutoParser {
  let all: LineParser[] | undefined;
  let scores: number[] = [];
  let seen = 0;
  let chosen: LineParser | undefined;
  let format: string | undefined;
  let misses = 0;
  const generic = createGenericParser(opts);


  const sampleLine = (line: string): LogRecord | undefined => {
    all ??= candidates(opts);
    if (scores.length === 0) scores = all.map(() => 0);
    let best: { rec: LogRecord; name: string; score: number } | undefined;
    for (let i = 0; i < all.length; i++) {
      const r = all[i]!.parse(line);
      if (!r) continue;
      // A fit with a level counts more: a format that names levels explains the line better.
      scores[i]! += r.level ? 1.25 : 1;
      if (!best || scores[i]! > best.score) best = { rec: r, name: all[i]!.name, score: scores[i]! };
    }
    if (line.trim() !== '') seen++;
    if (seen >= SAMPLE_LINES) decide();
    if (best) return finish(best.rec, best.name);
    const g = generic.parse(line);
    return g ? finish(g, 'generic') : undefined;
  };

  const decide = (): void => {
    let bi = -1;
    for (let i = 0; i < scores.length; i++) if (bi < 0 || scores[i]! > scores[bi]!) bi = i;
    const fit = bi >= 0 ? scores[bi]! / Math.max(1, seen) : 0;
    chosen = fit >= MIN_FIT ? all![bi] : generic;
    format = chosen!.name;
    misses = 0;
  };

  return {
    name: 'auto',
    get format() {
      if (format === undefined && seen > 0) decide();
      return format;
    },
    get decided() {
      return format;
    },
    hit() {
      misses = 0;
    },
    parse(line: string): LogRecord | undefined {
      if (!chosen) return sampleLine(line);
      const r = chosen.parse(line);
      if (r) {
        misses = 0;
        return finish(r, format!);
      }
      if (line !== '' && ++misses >= RELEARN_AFTER_MISSES) {
        chosen = undefined;
        format = undefined;
        scores = [];
        seen = 0;
        return sampleLine(line);
      }
      if (chosen === generic) return undefined;
      const g = generic.parse(line);
      return g ? finish(g, 'generic') : undefined;
    },
  };
}

const LEADING_TS = /^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)/;
const MONTH_OR_DAY = /^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)$/;
const KV_LEVEL = /^(?:level|lvl|severity|loglevel)=["']?([A-Za-z]+)/;
const HEADER_TOKENS = 8;

/**
 * For lines of no known format: walks the header — the leading tokens that are times, dates,
 * numbers, ids or bracketed (pid, thread, host) — and takes the first level token there
 * ("2024-01-02 03:04:05 [main] WARN …", "<E> …", "| error |"). The first plain word ends the
 * header: what follows is the message, and a level word in it is prose.
 */
export function findHeaderLevel(line: string): { level: NonNullable<LogRecord['level']>; raw: string; end: number } | undefined {
  let i = 0;
  const n = line.length;
  for (let t = 0; t < HEADER_TOKENS && i < n; t++) {
    while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    let j = i;
    while (j < n && line.charCodeAt(j) !== 32 && line.charCodeAt(j) !== 9) j++;
    if (j === i) break;
    const tok = line.slice(i, j);
    const kv = KV_LEVEL.exec(tok);
    if (kv) {
      const level = normalizeLevel(kv[1]);
      return level ? { level, raw: kv[1]!, end: j } : undefined;
    }
    const open = tok.charCodeAt(0);
    const decorated = open === 91 || open === 60 || open === 40; /* [ < ( */
    const word = tok.replace(/^[[<(|]+/, '').replace(/[\]>)|:,]+$/, '');
    if (word.length > 0 && /^[A-Za-z]+\d?$/.test(word) && (decorated || word.length > 1 || tok.endsWith(':'))) {
      // A single letter or LOG only inside brackets: "A" and "Log" begin sentences.
      if ((word.length > 1 && word.toUpperCase() !== 'LOG') || decorated) {
        const level = normalizeLevel(word);
        if (level) return { level, raw: word, end: j };
      }
    }
    if (decorated || /\d/.test(tok) || MONTH_OR_DAY.test(tok) || tok === '-' || tok === '|') {
      i = j;
      continue;
    }
    break;
  }
  return undefined;
}

/** The generic fallback: a header level and/or a leading ISO time. */
export function createGenericParser(opts: ParserOptions = {}): LineParser {
  const zone = compileZone(opts.timezone);
  return {
    name: 'generic',
    parse(line: string): LogRecord | undefined {
      const lvl = findHeaderLevel(line);
      const tsm = LEADING_TS.exec(line);
      if (!lvl && !tsm) return undefined;
      // The layout is unknown, so the whole line is the message (its header masks away in templates).
      const message = line.trimEnd();
      const rec: LogRecord = { message, fields: { message } };
      if (lvl) {
        rec.level = lvl.level;
        rec.fields.level_raw = lvl.raw;
      }
      if (tsm) {
        const ms = parseIsoLike(tsm[1]!, zone);
        if (ms !== undefined) rec.tsMs = ms;
      }
      return rec;
    },
  };
}
