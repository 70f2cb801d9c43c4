import { statfsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { errorLine } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { EventsStore } from './events-store.js';

/** Free bytes for an unprivileged writer on the file system holding `dir` (one statfs). */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

export interface DiskState {
  ok: boolean;
  freeBytes: number;
  minFreeBytes: number;
  /** Events dropped ahead of retention since start. */
  tightened: number;
  error?: string;
}

/**
 * The controller's own disk-space guard. SQLite never shrinks its file by itself, but deleted
 * rows leave free pages the next inserts reuse: dropping the oldest events while space is low
 * stops the database from growing before the disk fills (the WAL is checkpointed and truncated
 * too). Each check while low drops `pruneFraction` of the stored events, oldest first, and
 * raises ControllerDiskLow; the alert resolves by itself once checks stop re-asserting it.
 */
export class DiskGuard {
  readonly name = 'disk-guard';
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private last: DiskState;
  private tightened = 0;

  constructor(
    private readonly d: {
      dir: string;
      db: Database.Database;
      events: EventsStore;
      minFreeBytes: number;
      intervalMs: number;
      pruneFraction: number;
      logger: Logger;
      /** ControllerDiskLow, re-asserted on every low check (resolves by timeout). */
      raise: (s: DiskState, resolveTimeoutS: number) => void;
      probe?: (dir: string) => number;
    },
  ) {
    this.log = d.logger.child({ component: 'disk-guard' });
    this.last = { ok: true, freeBytes: Number.NaN, minFreeBytes: d.minFreeBytes, tightened: 0 };
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.d.intervalMs);
    this.timer.unref();
  }

  state(): DiskState {
    return this.last;
  }

  /** One probe (and, when low, one tightening pass); returns the state /readyz shows. */
  check(): DiskState {
    let free: number;
    try {
      free = (this.d.probe ?? freeBytes)(this.d.dir);
    } catch (err) {
      this.last = { ok: false, freeBytes: Number.NaN, minFreeBytes: this.d.minFreeBytes, tightened: this.tightened, error: `cannot read free space of ${this.d.dir}: ${errorLine(err)}` };
      return this.last;
    }
    if (free >= this.d.minFreeBytes) {
      if (!this.last.ok && !this.last.error) this.log.info({ freeBytes: free, minFreeBytes: this.d.minFreeBytes }, 'free space back above disk_guard.min_free');
      this.last = { ok: true, freeBytes: free, minFreeBytes: this.d.minFreeBytes, tightened: this.tightened };
      return this.last;
    }
    let dropped = 0;
    try {
      const n = Math.max(1, Math.ceil(this.d.events.count() * this.d.pruneFraction));
      dropped = this.d.events.pruneOldest(n);
      this.d.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log.error({ err }, 'tightening retention failed');
    }
    this.tightened += dropped;
    this.last = { ok: false, freeBytes: free, minFreeBytes: this.d.minFreeBytes, tightened: this.tightened };
    this.log.warn({ freeBytes: free, minFreeBytes: this.d.minFreeBytes, dropped, tightenedTotal: this.tightened }, 'disk space low under data_dir: dropped the oldest events ahead of retention');
    try {
      this.d.raise(this.last, Math.max(60, Math.ceil((3 * this.d.intervalMs) / 1000)));
    } catch (err) {
      this.log.error({ err }, 'raising ControllerDiskLow failed');
    }
    return this.last;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
