/**
 * The small grammar of Alertmanager's time intervals, shared by the config schema (which checks
 * it) and the controller (which evaluates it): "a" or "a:b" spans of numbers or names, and
 * "HH:MM" clock times.
 */

export const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;
export const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'] as const;

/** An inclusive span of numbers. */
export interface Range {
  start: number;
  end: number;
}

/** Parses "a" or "a:b" where each side is a number or a name from `names` (1-based months, 0-based weekdays). */
export function parseSpan(text: string, names: readonly string[] | undefined, base: number): Range | undefined {
  const side = (s: string): number | undefined => {
    const t = s.trim().toLowerCase();
    if (names) {
      const i = names.indexOf(t);
      if (i >= 0) return i + base;
    }
    return /^-?\d+$/.test(t) ? Number(t) : undefined;
  };
  const [a, b, extra] = text.split(':');
  if (extra !== undefined || a === undefined) return undefined;
  const start = side(a);
  const end = b === undefined ? start : side(b);
  if (start === undefined || end === undefined) return undefined;
  return { start, end };
}

/** "HH:MM" → minutes of the day; "24:00" allowed as an end. */
export function parseClock(s: string): number | undefined {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) return undefined;
  const v = Number(m[1]) * 60 + Number(m[2]);
  return Number(m[2]) < 60 && v <= 24 * 60 ? v : undefined;
}

