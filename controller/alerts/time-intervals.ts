import type { TimeIntervalConfig, TimeRangeConfig } from '../../shared/config/alerting.js';
import { MONTHS, parseClock, parseSpan, WEEKDAYS, type Range } from '../../shared/time-span.js';

/**
 * Alertmanager's time intervals (office hours, weekends, holidays), each range in its own
 * timezone: a route's `mute_time_intervals` hold its notifications back while one matches, its
 * `active_time_intervals` let them out only while one matches. Config strings were checked by
 * the schema (shared/config/alerting.ts); here they become numbers once.
 */

interface CompiledRange {
  /** Minutes of the day, [start, end). */
  times: Range[];
  weekdays: Range[];
  /** Days of the month; negative counts from the end (-1 = last day). */
  days: Range[];
  months: Range[];
  years: Range[];
  location: string;
}

function compileRange(r: TimeRangeConfig): CompiledRange {
  return {
    times: (r.times ?? []).map((t) => ({ start: parseClock(t.start_time)!, end: parseClock(t.end_time)! })),
    weekdays: (r.weekdays ?? []).map((w) => parseSpan(w, WEEKDAYS, 0)!),
    days: (r.days_of_month ?? []).map((d) => parseSpan(d, undefined, 0)!),
    months: (r.months ?? []).map((m) => parseSpan(m, MONTHS, 1)!),
    years: (r.years ?? []).map((y) => parseSpan(y, undefined, 0)!),
    location: r.location ?? 'UTC',
  };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', weekday: 'long', hour: 'numeric', minute: 'numeric' });
    formatters.set(tz, f);
  }
  return f;
}

/** The wall clock in a timezone: year, month (1-12), day, weekday (0 = Sunday), minute of the day. */
export function wallClock(ms: number, tz: string): { year: number; month: number; day: number; weekday: number; minute: number } {
  const p: Record<string, string> = {};
  for (const part of fmt(tz).formatToParts(new Date(ms))) p[part.type] = part.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    weekday: WEEKDAYS.indexOf(p.weekday!.toLowerCase() as (typeof WEEKDAYS)[number]),
    minute: (Number(p.hour) % 24) * 60 + Number(p.minute),
  };
}

const inAny = (v: number, rs: Range[]) => rs.length === 0 || rs.some((r) => v >= r.start && v <= r.end);

function rangeMatches(r: CompiledRange, ms: number): boolean {
  const w = wallClock(ms, r.location);
  if (r.times.length && !r.times.some((t) => w.minute >= t.start && w.minute < t.end)) return false;
  if (!inAny(w.weekday, r.weekdays)) return false;
  if (!inAny(w.month, r.months)) return false;
  if (!inAny(w.year, r.years)) return false;
  if (r.days.length) {
    const last = new Date(Date.UTC(w.year, w.month, 0)).getUTCDate();
    const abs = (d: number) => (d < 0 ? last + d + 1 : d);
    if (!r.days.some((d) => w.day >= abs(d.start) && w.day <= abs(d.end))) return false;
  }
  return true;
}

/** Named time intervals, compiled once. */
export class TimeIntervals {
  private readonly byName = new Map<string, CompiledRange[]>();

  constructor(cfg: readonly TimeIntervalConfig[]) {
    for (const ti of cfg) this.byName.set(ti.name, ti.time_intervals.map(compileRange));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** True when any range of the named interval contains `ms`. */
  active(name: string, ms: number): boolean {
    return (this.byName.get(name) ?? []).some((r) => rangeMatches(r, ms));
  }
}
