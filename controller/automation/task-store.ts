import type Database from 'better-sqlite3';

export interface TaskStateRow {
  name: string;
  last_slot_ms: number;
  last_run_id: string;
  last_status: string;
  last_started_ms: number | null;
  last_ended_ms: number | null;
}

export interface TaskRunRow {
  id: number;
  task: string;
  slot_ms: number;
  trigger: string;
  run_id: string;
  status: string;
  reason: string;
  started_ms: number | null;
  ended_ms: number | null;
}

/** Persistent scheduler state: the last slot each task was scheduled for, and its history. */
export class TaskStore {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      state: db.prepare<[string], TaskStateRow>('SELECT * FROM task_state WHERE name = ?'),
      ensure: db.prepare('INSERT INTO task_state (name, last_slot_ms) VALUES (?, ?) ON CONFLICT(name) DO NOTHING'),
      setSlot: db.prepare('UPDATE task_state SET last_slot_ms = ? WHERE name = ?'),
      setLast: db.prepare('UPDATE task_state SET last_run_id = ?, last_status = ?, last_started_ms = ?, last_ended_ms = ? WHERE name = ?'),
      insertRun: db.prepare('INSERT INTO task_runs (task, slot_ms, trigger, status, reason, started_ms, ended_ms) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      finishRun: db.prepare('UPDATE task_runs SET run_id = ?, status = ?, reason = ?, ended_ms = ? WHERE id = ?'),
      history: db.prepare<[string, number], TaskRunRow>('SELECT * FROM task_runs WHERE task = ? ORDER BY id DESC LIMIT ?'),
      prune: db.prepare("DELETE FROM task_runs WHERE status != 'running' AND COALESCE(ended_ms, started_ms, slot_ms) < ?"),
      interrupted: db.prepare("UPDATE task_runs SET status = 'interrupted', reason = 'controller stopped during the run', ended_ms = ? WHERE status = 'running'"),
    };
  }

  /** The task's state row, created with `initialSlotMs` the first time a task is seen. */
  state(name: string, initialSlotMs: number): TaskStateRow {
    this.stmts.ensure.run(name, initialSlotMs);
    return this.stmts.state.get(name)!;
  }

  setSlot(name: string, slotMs: number): void {
    this.stmts.setSlot.run(slotMs, name);
  }

  recordStart(task: string, slotMs: number, trigger: string, nowMs: number): number {
    return Number(this.stmts.insertRun.run(task, slotMs, trigger, 'running', '', nowMs, null).lastInsertRowid);
  }

  /** A history row that is already final (skipped, missed). */
  record(task: string, slotMs: number, trigger: string, status: string, reason: string, nowMs: number): void {
    this.stmts.insertRun.run(task, slotMs, trigger, status, reason, nowMs, nowMs);
  }

  recordFinish(id: number, task: string, runId: string, status: string, reason: string, startedMs: number, nowMs: number): void {
    this.stmts.finishRun.run(runId, status, reason, nowMs, id);
    this.stmts.setLast.run(runId, status, startedMs, nowMs, task);
  }

  history(task: string, limit: number): TaskRunRow[] {
    return this.stmts.history.all(task, limit);
  }

  /** Deletes finished history rows that ended before `beforeMs` (task_state keeps each task's last run). */
  prune(beforeMs: number): number {
    return this.stmts.prune.run(beforeMs).changes;
  }

  markInterrupted(nowMs: number): number {
    return this.stmts.interrupted.run(nowMs).changes;
  }
}
