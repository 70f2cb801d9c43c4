import { LEVELS, type Level } from '../../shared/logs/levels.js';
import type { PendingStats } from './checkpoint-store.js';

/**
 * Per-minute counts by normalized level (by read time), kept until shipped. The counts travel
 * with the checkpoints, so a restart resumes them instead of losing or repeating them.
 */
export class LevelStats {
  private buckets = new Map<number, PendingStats>();

  constructor(initial: PendingStats[] = []) {
    for (const b of initial) this.buckets.set(b.minuteMs, structuredClone(b));
  }

  private bucket(nowMs: number): PendingStats {
    const minuteMs = Math.floor(nowMs / 60_000) * 60_000;
    let b = this.buckets.get(minuteMs);
    if (!b) {
      b = { minuteMs, levels: {}, lines: 0, unparsed: 0, truncated: 0 };
      this.buckets.set(minuteMs, b);
    }
    return b;
  }

  add(nowMs: number, level: Level | undefined, parsed: boolean, truncated: boolean): void {
    const b = this.bucket(nowMs);
    b.lines++;
    if (!parsed) b.unparsed++;
    if (truncated) b.truncated++;
    const key = parsed ? (level ?? 'NONE') : 'NONE';
    b.levels[key] = (b.levels[key] ?? 0) + 1;
  }

  /**
   * Parsed, whole lines counted by level index (LEVELS, then one slot for no level): what
   * add() would count for each of them, in one step (the tail's byte path counts, it builds no records).
   */
  addCounts(nowMs: number, counts: readonly number[]): void {
    let total = 0;
    for (const n of counts) total += n;
    if (total === 0) return;
    const b = this.bucket(nowMs);
    b.lines += total;
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i]!;
      if (n === 0) continue;
      const key = i < LEVELS.length ? LEVELS[i]! : 'NONE';
      b.levels[key] = (b.levels[key] ?? 0) + n;
    }
  }

  snapshot(): PendingStats[] {
    return [...this.buckets.values()].map((b) => structuredClone(b));
  }

  /** Takes every bucket out for shipping. */
  drain(): PendingStats[] {
    const out = [...this.buckets.values()];
    this.buckets = new Map();
    return out;
  }

  get empty(): boolean {
    return this.buckets.size === 0;
  }
}
