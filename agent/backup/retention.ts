import type { RetentionConfig } from '../../shared/config/backup.js';

export interface RetainedSnapshot {
  id: string;
  type: 'full' | 'incremental';
  parent: string | null;
  time_ms: number;
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  return `${t.getUTCFullYear()}-W${Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7)}`;
}

/**
 * restic-style policy: the newest `keep_last`, plus the newest snapshot of each of the last
 * `keep_daily` days (UTC), `keep_weekly` ISO weeks and `keep_monthly` months that have one.
 * Then every ancestor of a kept snapshot is kept too: an incremental is useless without its
 * chain, so we keep dependencies rather than rebase (rewrite) archives on the target. A chain
 * is bounded by full_every / full_after, after which old chains expire whole.
 */
export function selectRetention(snaps: readonly RetainedSnapshot[], policy: RetentionConfig): { keep: Set<string>; remove: string[] } {
  const newest = [...snaps].sort((a, b) => b.time_ms - a.time_ms || (a.id < b.id ? 1 : -1));
  const keep = new Set<string>();
  newest.slice(0, policy.keep_last).forEach((s) => keep.add(s.id));
  const buckets: Array<[number, (d: Date) => string]> = [
    [policy.keep_daily, (d) => d.toISOString().slice(0, 10)],
    [policy.keep_weekly, isoWeek],
    [policy.keep_monthly, (d) => d.toISOString().slice(0, 7)],
  ];
  for (const [n, key] of buckets) {
    const seen = new Set<string>();
    for (const s of newest) {
      if (seen.size >= n) break;
      const k = key(new Date(s.time_ms));
      if (seen.has(k)) continue;
      seen.add(k);
      keep.add(s.id);
    }
  }
  const byId = new Map(snaps.map((s) => [s.id, s]));
  for (const id of [...keep]) {
    let cur = byId.get(id);
    while (cur && cur.type !== 'full' && cur.parent) {
      keep.add(cur.parent);
      cur = byId.get(cur.parent);
    }
  }
  return { keep, remove: newest.filter((s) => !keep.has(s.id)).map((s) => s.id).reverse() };
}
