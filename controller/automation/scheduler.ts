import { Cron } from 'croner';
import type { TaskConfig } from '../../shared/config/tasks.js';
import type { Logger } from '../../shared/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { TaskStore } from './task-store.js';

export type TaskTrigger = 'schedule' | 'catch_up' | 'manual' | 'queued';

export interface TaskOutcome {
  runId: string;
  /** ok | failed | cancelled | error */
  status: string;
  reason: string;
  /** Human summary of the per-host results, for `report:` receivers. */
  report?: string;
}

/** Runs one task's playbook (backed by the run dispatcher; a seam for tests). */
export type TaskExecutor = (task: TaskConfig, trigger: TaskTrigger, signal: AbortSignal) => Promise<TaskOutcome>;

export interface SchedulerDeps {
  store: TaskStore;
  audit: AuditLog;
  execute: TaskExecutor;
  /** Called after each run with the task's on_success / on_failure receivers. */
  onFinished?: (task: TaskConfig, outcome: TaskOutcome) => void;
  logger: Logger;
  now?: () => number;
  tickMs: number;
  defaultCatchUpMs: number;
  defaultTimezone?: string | undefined;
  /**
   * HA: whether this controller may run schedules now (the leader). Absent: always. While it
   * says no, ticks look at nothing and slots are not advanced, so on promotion the first tick
   * catches up the latest slot within catch_up like after a restart.
   */
  mayRun?: () => boolean;
  /**
   * HA: claims a slot across controllers before it runs (`opsfleet_claims`); false: another
   * controller ran it. A throw (KV unreachable) skips the slot: no task runs twice.
   */
  claim?: (task: string, slotMs: number) => Promise<boolean>;
}

interface Entry {
  task: TaskConfig;
  cron: Cron;
}

/** More slots than this between two looks are counted, not enumerated. */
const MAX_SLOT_SCAN = 10_000;

/**
 * Cron scheduler for tasks. The slot a run belongs to is persisted before the run starts, so a
 * controller restart never runs a slot twice; on start, the latest slot missed while it was
 * down runs once if it is within `catch_up`, older ones are recorded as missed. Overlap with a
 * still-running previous run is skipped, queued (at most one) or allowed per task.
 */
export class Scheduler {
  private entries = new Map<string, Entry>();
  private readonly running = new Map<string, number>();
  private readonly queued = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private firstTick = true;
  /** A tick was refused by mayRun (standby) since the last one that ran. */
  private idled = false;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly d: SchedulerDeps) {
    this.log = d.logger.child({ component: 'scheduler' });
    this.now = d.now ?? Date.now;
  }

  /** Replaces the task set (start and reload). New tasks start counting from now. */
  setTasks(tasks: readonly TaskConfig[]): void {
    const next = new Map<string, Entry>();
    for (const task of tasks) {
      const timezone = task.timezone ?? this.d.defaultTimezone;
      next.set(task.name, { task, cron: new Cron(task.schedule, { paused: true, ...(timezone ? { timezone } : {}) }) });
      this.d.store.state(task.name, this.now());
    }
    this.entries = next;
  }

  tasks(): Array<{ task: TaskConfig; nextRunMs: number | null; running: number }> {
    const now = this.now();
    return [...this.entries.values()].map((e) => ({ task: e.task, nextRunMs: e.task.enabled ? (e.cron.nextRun(new Date(now))?.getTime() ?? null) : null, running: this.running.get(e.task.name) ?? 0 }));
  }

  async start(): Promise<void> {
    const n = this.d.store.markInterrupted(this.now());
    if (n > 0) this.log.warn({ runs: n }, 'task runs cut by the last stop marked interrupted');
    this.tick();
    this.timer = setInterval(() => this.tick(), this.d.tickMs);
    this.timer.unref();
  }

  /** One look at every task: runs what is due. Public so tests with a fake clock can drive it. */
  tick(): void {
    if (this.d.mayRun && !this.d.mayRun()) {
      this.idled = true;
      return;
    }
    const now = this.now();
    const promoted = this.idled;
    this.idled = false;
    const trigger: TaskTrigger = this.firstTick || promoted ? 'catch_up' : 'schedule';
    this.firstTick = false;
    for (const { task, cron } of this.entries.values()) {
      if (!task.enabled) continue;
      try {
        this.consider(task, cron, now, trigger, promoted);
      } catch (err) {
        this.log.error({ err, task: task.name }, 'scheduling a task failed');
      }
    }
  }

  private consider(task: TaskConfig, cron: Cron, now: number, trigger: TaskTrigger, promoted = false): void {
    const state = this.d.store.state(task.name, now);
    let slot: number | undefined;
    let skipped = 0;
    let cursor: Date | null = cron.nextRun(new Date(state.last_slot_ms));
    while (cursor && cursor.getTime() <= now) {
      if (slot !== undefined) skipped++;
      slot = cursor.getTime();
      if (skipped >= MAX_SLOT_SCAN) {
        // Jump ahead: the latest slot is the last one before now.
        slot = cron.previousRuns(1, new Date(now + 1))[0]?.getTime() ?? slot;
        break;
      }
      cursor = cron.nextRun(cursor);
    }
    if (slot === undefined) return;
    // Persist the slot first: whatever happens next, this slot is never run again.
    this.d.store.setSlot(task.name, slot);
    if (skipped > 0) {
      const why = promoted || this.d.claim ? 'before this controller led (run by the previous leader, or missed)' : 'missed while the controller was not running';
      this.d.store.record(task.name, slot, trigger, 'missed', `${skipped}${skipped >= MAX_SLOT_SCAN ? '+' : ''} earlier run(s) ${why}`, now);
    }
    const lateness = now - slot;
    const window = Math.max(task.catch_up ?? this.d.defaultCatchUpMs, this.d.tickMs * 3);
    if (lateness > window) {
      this.d.store.record(task.name, slot, trigger, 'missed', `due ${Math.round(lateness / 1000)} s ago, past catch_up`, now);
      this.log.warn({ task: task.name, slot: new Date(slot).toISOString() }, 'task run missed (past catch_up)');
      return;
    }
    // A slot found on the first look after start was missed while the controller was down.
    if (!this.d.claim) {
      this.launch(task, slot, trigger);
      return;
    }
    // HA: the slot is already persisted here, so the next tick does not ask again while the claim is out.
    const at = slot;
    this.d
      .claim(task.name, at)
      .then((mine) => {
        if (this.abort.signal.aborted) return;
        if (mine) this.launch(task, at, trigger);
        else this.d.store.record(task.name, at, trigger, 'skipped', 'slot already claimed by another controller (it ran there)', this.now());
      })
      .catch((err: unknown) => {
        this.log.error({ err, task: task.name }, 'claiming a task slot failed: the slot is skipped so it cannot run twice');
        this.d.store.record(task.name, at, trigger, 'skipped', `could not claim the slot in NATS KV: ${(err as Error).message}`, this.now());
      });
  }

  /** Starts a run now, honouring the overlap policy; returns false when it was skipped. */
  launch(task: TaskConfig, slot: number, trigger: TaskTrigger): boolean {
    const now = this.now();
    if ((this.running.get(task.name) ?? 0) > 0) {
      if (task.overlap === 'skip') {
        this.d.store.record(task.name, slot, trigger, 'skipped', 'previous run still going (overlap: skip)', now);
        this.log.warn({ task: task.name }, 'task run skipped: previous run still going');
        return false;
      }
      if (task.overlap === 'queue') {
        if (!this.queued.has(task.name)) {
          this.queued.add(task.name);
          this.log.info({ task: task.name }, 'task run queued behind the running one');
        } else {
          this.d.store.record(task.name, slot, trigger, 'skipped', 'a run is already queued (overlap: queue)', now);
        }
        return true;
      }
    }
    const p = this.run(task, slot, trigger).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return true;
  }

  private async run(task: TaskConfig, slot: number, trigger: TaskTrigger): Promise<void> {
    const started = this.now();
    this.running.set(task.name, (this.running.get(task.name) ?? 0) + 1);
    const rowId = this.d.store.recordStart(task.name, slot, trigger, started);
    this.d.audit.append(`task:${task.name}`, 'task.start', task.name, { trigger, slot: new Date(slot).toISOString(), playbook: task.playbook, target: task.target });
    this.log.info({ task: task.name, trigger, playbook: task.playbook }, 'task run started');
    let outcome: TaskOutcome;
    try {
      outcome = await this.d.execute(task, trigger, this.abort.signal);
    } catch (err) {
      outcome = { runId: '', status: 'error', reason: (err as Error).message };
    }
    const ended = this.now();
    this.d.store.recordFinish(rowId, task.name, outcome.runId, outcome.status, outcome.reason, started, ended);
    this.d.audit.append(`task:${task.name}`, 'task.finish', task.name, { runId: outcome.runId, status: outcome.status, reason: outcome.reason });
    this.log.info({ task: task.name, runId: outcome.runId, status: outcome.status, durationMs: ended - started }, 'task run finished');
    const left = (this.running.get(task.name) ?? 1) - 1;
    if (left === 0) this.running.delete(task.name);
    else this.running.set(task.name, left);
    try {
      this.d.onFinished?.(task, outcome);
    } catch (err) {
      this.log.error({ err, task: task.name }, 'task notification failed');
    }
    if (left === 0 && this.queued.delete(task.name) && !this.abort.signal.aborted) {
      const current = this.entries.get(task.name)?.task;
      if (current) this.launch(current, slot, 'queued');
    }
  }

  /** `opsctl tasks run NAME`: now, outside the schedule (the overlap policy still applies). */
  runNow(name: string): { started: boolean; reason?: string } {
    const e = this.entries.get(name);
    if (!e) return { started: false, reason: `no task "${name}"` };
    const started = this.launch(e.task, this.now(), 'manual');
    return started ? { started } : { started, reason: 'previous run still going (overlap: skip)' };
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Stops scheduling; cancels running task runs and waits (bounded by the caller) for them. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
  }
}
