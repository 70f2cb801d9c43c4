import type Database from 'better-sqlite3';
import type { TaskFile } from './tasks-loader.js';

/** A task set as the fleet knows it: the files' texts, their hash, who loaded them and when. */
export interface TaskSetRecord {
  hash: string;
  /** `ha.id` of the controller whose load (start with a changed tasks_dir, or reload) it was. */
  origin: string;
  /** When it was loaded (that controller's clock). */
  setMs: number;
  files: TaskFile[];
}

/**
 * `task_sets`: the fleet's task set (row `fleet`: the newest load on any controller, with the
 * files' texts) and the hash of this controller's own tasks_dir at its last load (row `local`).
 * Persisted so a restart keeps knowing which set is newest and whether tasks_dir changed
 * meanwhile.
 */
export class TaskSetStore {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      get: db.prepare<[string], { hash: string; origin: string; set_ms: number; files: string }>('SELECT hash, origin, set_ms, files FROM task_sets WHERE which = ?'),
      put: db.prepare(
        'INSERT INTO task_sets (which, hash, origin, set_ms, files) VALUES (?, ?, ?, ?, ?) ON CONFLICT(which) DO UPDATE SET hash = excluded.hash, origin = excluded.origin, set_ms = excluded.set_ms, files = excluded.files',
      ),
    };
  }

  fleet(): TaskSetRecord | undefined {
    const r = this.s.get.get('fleet');
    return r ? { hash: r.hash, origin: r.origin, setMs: r.set_ms, files: JSON.parse(r.files) as TaskFile[] } : undefined;
  }

  setFleet(r: TaskSetRecord): void {
    this.s.put.run('fleet', r.hash, r.origin, r.setMs, JSON.stringify(r.files));
  }

  /** The hash of tasks_dir when this controller last loaded it. */
  localHash(): string | undefined {
    return this.s.get.get('local')?.hash;
  }

  setLocalHash(hash: string, origin: string, atMs: number): void {
    this.s.put.run('local', hash, origin, atMs, '[]');
  }
}

/** Newer wins; the same instant is broken by the hash so both controllers pick the same set. */
export function isNewer(a: Pick<TaskSetRecord, 'setMs' | 'hash'>, than: Pick<TaskSetRecord, 'setMs' | 'hash'> | undefined): boolean {
  if (!than) return true;
  return a.setMs > than.setMs || (a.setMs === than.setMs && a.hash > than.hash);
}
