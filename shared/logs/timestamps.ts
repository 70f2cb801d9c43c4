import { OpsError } from '../errors.js';

export const MONTHS: Record<string, number> = {
  Jan: 1, Feb: 2, Mar: 3, Apr: 4, May: 5, Jun: 6, Jul: 7, Aug: 8, Sep: 9, Oct: 10, Nov: 11, Dec: 12,
};

/** Converts wall-clock parts in some zone to epoch milliseconds (UTC). */
export interface Zone {
  readonly name: string;
  /**
   * UTC or a fixed offset: toUtc is Date.UTC minus a constant, so linear in the hour's minutes,
   * seconds and milliseconds (a caller may compute an hour once and add the rest).
   */
  readonly fixed?: boolean;
  toUtc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number;
}

const OFFSET_RE = /^([+-])(\d{2}):?(\d{2})$/;

/**
 * Compiles a timezone setting once: "UTC", "local", "+08:00"/"-0530", or an IANA name. IANA
 * offsets are looked up through Intl and cached per hour, so parsing stays cheap per line.
 */
export function compileZone(tz: string | undefined): Zone {
  const name = tz ?? 'UTC';
  if (name === 'UTC' || name === 'Z' || name === 'utc') {
    return { name, fixed: true, toUtc: (y, mo, d, h, mi, s, ms) => Date.UTC(y, mo - 1, d, h, mi, s, ms) };
  }
  if (name === 'local') {
    return { name, toUtc: (y, mo, d, h, mi, s, ms) => new Date(y, mo - 1, d, h, mi, s, ms).getTime() };
  }
  const m = OFFSET_RE.exec(name);
  if (m) {
    const off = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000;
    return { name, fixed: true, toUtc: (y, mo, d, h, mi, s, ms) => Date.UTC(y, mo - 1, d, h, mi, s, ms) - off };
  }
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  } catch {
    throw new OpsError('OPS_ERR_LOGS_TIMEZONE', `unknown timezone "${name}" (use UTC, local, +08:00 or an IANA name like Europe/Berlin)`);
  }
  const cache = new Map<number, number>();
  const offsetAt = (utcMs: number): number => {
    const hour = Math.floor(utcMs / 3_600_000);
    let off = cache.get(hour);
    if (off === undefined) {
      const p: Record<string, number> = {};
      for (const part of fmt.formatToParts(new Date(hour * 3_600_000))) if (part.type !== 'literal') p[part.type] = Number(part.value);
      off = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - hour * 3_600_000;
      if (cache.size > 10_000) cache.clear();
      cache.set(hour, off);
    }
    return off;
  };
  return {
    name,
    toUtc: (y, mo, d, h, mi, s, ms) => {
      const wall = Date.UTC(y, mo - 1, d, h, mi, s, ms);
      // Two passes settle the offset across DST changes.
      const first = wall - offsetAt(wall);
      return wall - offsetAt(first);
    },
  };
}

/** Fraction digits ("123", "123456") to milliseconds. */
export function fractionMs(frac: string | undefined): number {
  if (!frac) return 0;
  return Math.floor(Number((frac + '00').slice(0, 3)));
}

/**
 * Year for formats that omit it (syslog 3164): the current year, unless that would put the
 * event more than a week in the future (December lines read in January belong to last year).
 */
export function inferYear(mo: number, d: number, nowMs: number): number {
  const now = new Date(nowMs);
  const y = now.getUTCFullYear();
  const candidate = Date.UTC(y, mo - 1, d);
  return candidate > nowMs + 7 * 86_400_000 ? y - 1 : y;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * ISO-8601 / RFC 3339 and the log4j "2024-01-02 03:04:05,123" form. A missing offset means the
 * configured zone. Undefined when the text is not such a timestamp.
 */
export function parseIsoLike(text: string, zone: Zone): number | undefined {
  const m = ISO_RE.exec(text);
  if (!m) return undefined;
  const ms = fractionMs(m[7]);
  const parts = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms] as const;
  if (parts[1] < 1 || parts[1] > 12 || parts[2] < 1 || parts[2] > 31) return undefined;
  const off = m[8];
  if (!off) return zone.toUtc(...parts);
  if (off === 'Z') return Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5], ms);
  const o = OFFSET_RE.exec(off)!;
  const offMs = (o[1] === '-' ? -1 : 1) * (Number(o[2]) * 60 + Number(o[3])) * 60_000;
  return Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5], ms) - offMs;
}

/** A tiny memo: consecutive lines usually share their timestamp text, so parse each text once. */
export class LastValueCache {
  private key = '';
  private value: number | undefined;
  get(key: string, compute: (k: string) => number | undefined): number | undefined {
    if (key === this.key) return this.value;
    this.key = key;
    this.value = compute(key);
    return this.value;
  }
}
