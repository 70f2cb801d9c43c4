import type { Level } from '../levels.js';
import { normalizeLevel } from '../levels.js';
import type { LineParser, ParserOptions } from '../record.js';
import { compileZone, parseIsoLike } from '../timestamps.js';
import { definePreset } from './define.js';

// PostgreSQL with the default log_line_prefix '%m [%p] ' ("2026-12-02 12:28:57.187 UTC [30613] LOG:  msg"),
// and Debian's '%m [%p] %q%u@%d ' (user@db before the level).
const PG = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)(?: ([A-Z]{1,5}|[+-]\d{2}(?::?\d{2})?))? \[(\d+)\](?:-\d+)? (?:(\S*)@(\S*) )?(DEBUG[1-5]?|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION):  (.*)$/s;
/** DETAIL, HINT, CONTEXT, STATEMENT, QUERY, LOCATION continue the entry above: no level of their own. */
const PART_OF_ENTRY = new Set(['DETAIL', 'HINT', 'CONTEXT', 'STATEMENT', 'QUERY', 'LOCATION']);

function pgLevel(raw: string): Level | undefined {
  if (PART_OF_ENTRY.has(raw)) return undefined;
  return raw.startsWith('DEBUG') ? 'DEBUG' : normalizeLevel(raw);
}

export function createPostgresParser(opts: ParserOptions = {}): LineParser {
  const utc = compileZone('UTC');
  return definePreset('postgres', opts, PG, (m) => ({ ts: m[2] ? `${m[1]} ${m[2]}` : m[1], level: m[6], message: m[7]!, fields: { pid: m[3], user: m[4] || undefined, database: m[5] || undefined, ...(PART_OF_ENTRY.has(m[6]!) ? { part: m[6] } : {}) } }), {
    time: (x, t) => {
      const sp = x.lastIndexOf(' ');
      const zoneText = x.length > 19 && sp > 10 ? x.slice(sp + 1) : '';
      const base = zoneText && !/^\d/.test(zoneText) ? x.slice(0, sp) : x;
      // UTC/GMT are exact; other abbreviations (CET, EST…) are ambiguous: the configured zone applies.
      if (zoneText === 'UTC' || zoneText === 'GMT') return parseIsoLike(base, utc);
      if (/^[+-]\d/.test(zoneText)) return parseIsoLike(`${x.slice(0, sp)}${zoneText.length === 3 ? `${zoneText}:00` : zoneText}`, t.zone);
      return parseIsoLike(base, t.zone);
    },
    level: pgLevel,
  });
}
