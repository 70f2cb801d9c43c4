import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { ControllerConfig } from '../../shared/config/controller.js';
import type { PolicyConfig, TaskConfig, TaskRefs } from '../../shared/config/tasks.js';
import { OpsError, problemLines } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { AlertManager } from '../alerts/alert-manager.js';
import type { AuditLog } from '../audit/audit-log.js';
import { RunRequestError, type RunDispatcher, type RunStreamEvent } from '../dispatch/run-dispatcher.js';
import { compileTarget } from '../dispatch/target.js';
import { PolicyEngine } from './policy-engine.js';
import { RemediationStore } from './remediation-store.js';
import { Scheduler, type TaskOutcome } from './scheduler.js';
import { TaskStore } from './task-store.js';
import type { Leadership } from '../ha/leadership.js';
import { keepEmptiedFiles, parseTaskFiles, readTasksDir, taskFilesHash, type KeptFile, type TaskFile, type TaskSet } from './tasks-loader.js';
import { PolicyTrackStore } from './policy-tracks.js';
import { isNewer, TaskSetStore, type TaskSetRecord } from './task-set-store.js';

const REPORT_LINES_PER_HOST = 6;

/** What /healthz and `GET /api/v1/tasks/set` say about the task set in effect. */
export interface TaskSetStatus {
  /** SHA-256 of the fleet's set (the files' names and texts). */
  hash: string;
  /** `local`: this controller's own load; `replicated`: the other controller's (control log). */
  source: 'local' | 'replicated';
  /** `ha.id` of the controller that loaded it. */
  origin: string;
  loadedAt: string;
  files: string[];
  /** SHA-256 of this controller's tasks_dir at its last load. */
  localHash: string;
  /** This controller's tasks_dir differs from the fleet's set (it runs the fleet's set). */
  drift: boolean;
  /** Why the fleet's set cannot run here (this controller then runs its own tasks_dir). */
  error?: string;
}

/**
 * Scheduled tasks and self-healing policies from tasks_dir, wired to the run dispatcher and
 * alerting. A bad tasks_dir at start refuses the start; on reload it is rejected and the
 * running set stays.
 *
 * With HA the task set is the fleet's (docs/scaling.md, "Control log"): the newest load on
 * either controller (a reload, or a start with a tasks_dir that changed since the last load)
 * is published with its files' texts and runs on both; a controller whose tasks_dir differs
 * says so (`drift`).
 */
export class Automation {
  readonly name = 'automation';
  readonly scheduler: Scheduler;
  readonly policies: PolicyEngine;
  readonly tasks: TaskStore;
  readonly remediations: RemediationStore;
  readonly policyTracks: PolicyTrackStore;
  readonly taskSets: TaskSetStore;
  private set: TaskSet = { tasks: [], policies: [], files: [] };
  private fleetError: string | undefined;
  private readonly setListeners = new Set<(r: TaskSetRecord) => void>();
  private readonly log: Logger;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly d: {
      cfg: ControllerConfig;
      db: Database.Database;
      dispatcher: RunDispatcher;
      audit: AuditLog;
      alerts: AlertManager;
      logger: Logger;
      /** HA: schedules and policies act only while this controller leads. Absent: always (one controller). */
      leadership?: Leadership;
      /** HA: claims a schedule slot across controllers before running it. */
      claim?: (task: string, slotMs: number) => Promise<boolean>;
      /** HA: this controller's `ha.id` (absent: HA off, tasks_dir alone decides). */
      haId?: string;
    },
  ) {
    this.log = d.logger.child({ component: 'automation' });
    this.tasks = new TaskStore(d.db);
    this.remediations = new RemediationStore(d.db);
    this.policyTracks = new PolicyTrackStore(d.db);
    this.taskSets = new TaskSetStore(d.db);
    this.scheduler = new Scheduler({
      store: this.tasks,
      audit: d.audit,
      execute: (task, _trigger, signal) => this.runTask(task, signal),
      onFinished: (task, outcome) => this.taskFinished(task, outcome),
      logger: d.logger,
      tickMs: d.cfg.scheduler.tick,
      defaultCatchUpMs: d.cfg.scheduler.catch_up,
      defaultTimezone: d.cfg.scheduler.timezone,
      ...(d.leadership ? { mayRun: () => d.leadership!.isLeader() } : {}),
      ...(d.claim ? { claim: d.claim } : {}),
    });
    this.policies = new PolicyEngine({
      alerts: {
        firing: () => d.alerts.list('firing').map((a) => ({ fingerprint: a.fingerprint, labels: a.labels, startsAtMs: Date.parse(a.startsAt) })),
        isResolved: (fp) => d.alerts.get(fp)?.status !== 'firing',
        annotate: (fp, line) => d.alerts.annotateRemediation(fp, line),
      },
      run: (p, target, signal) => this.runRemediation(p, target, signal),
      notify: (receivers, n) => d.alerts.notifyDirect(receivers, { key: `policy:${n.labels.policy ?? ''}:${n.labels.host ?? ''}`, ...n }),
      store: this.remediations,
      tracks: this.policyTracks,
      origin: d.haId ?? 'local',
      audit: d.audit,
      globalPerMinute: d.cfg.scheduler.max_remediations_per_minute,
      logger: d.logger,
      ...(d.leadership ? { mayAct: () => d.leadership!.isLeader() } : {}),
    });
  }

  private refs(): TaskRefs {
    return {
      playbooks: Object.keys(this.d.cfg.playbooks),
      receivers: this.d.cfg.alerting.receivers.map((r) => r.name),
      checkTarget: (expr) => {
        try {
          compileTarget(expr);
          return undefined;
        } catch (err) {
          return (err as Error).message;
        }
      },
    };
  }

  /** tasks_dir read once and parsed: its files (what is hashed and published) and their set. */
  private readLocal(): { files: TaskFile[]; set: TaskSet } {
    const dir = this.d.cfg.tasks_dir;
    if (!dir) return { files: [], set: { tasks: [], policies: [], files: [] } };
    const files = readTasksDir(dir);
    return { files, set: parseTaskFiles(files, this.refs(), (name) => join(dir, name)) };
  }

  /** A set's files parsed here, named by where they came from (this tasks_dir when it holds the same set). */
  private parseSet(r: TaskSetRecord): TaskSet {
    const dir = this.d.cfg.tasks_dir;
    const local = dir !== undefined && r.hash === this.taskSets.localHash();
    return parseTaskFiles(r.files, this.refs(), (name) => (local ? join(dir, name) : `${r.origin}:${name}`));
  }

  private get origin(): string {
    return this.d.haId ?? 'local';
  }

  /** This controller's load becomes the fleet's set (and goes to the other controller). */
  private setFleet(files: TaskFile[], hash: string, now: number): void {
    // Newer than every set known here even if the other controller's clock runs ahead: a load
    // here must become the fleet's set on both sides, not only on this one.
    const rec: TaskSetRecord = { hash, origin: this.origin, setMs: Math.max(now, (this.taskSets.fleet()?.setMs ?? 0) + 1), files };
    this.taskSets.setFleet(rec);
    this.fleetError = undefined;
    for (const fn of this.setListeners) fn(rec);
  }

  /** Hears every load of this controller that became the fleet's set (the control log publishes it). */
  onTaskSet(fn: (r: TaskSetRecord) => void): () => void {
    this.setListeners.add(fn);
    return () => this.setListeners.delete(fn);
  }

  /**
   * A set another controller loaded (control log): checked like a load here (hash, the tasks
   * schema against this controller's playbooks and receivers; a problem throws
   * OPS_ERR_HA_CONTROL_INVALID and the record is skipped and counted), then, when it is newer
   * than the set in effect, it becomes the set in effect.
   */
  applyTaskSet(r: TaskSetRecord): void {
    if (taskFilesHash(r.files) !== r.hash) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `task set ${r.hash.slice(0, 12)} from ${r.origin}: the hash does not match its files`);
    let set: TaskSet;
    try {
      set = this.parseSet(r);
    } catch (err) {
      throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `task set ${r.hash.slice(0, 12)} from ${r.origin} is not valid here: ${problemLines(err).join('; ')}`, { cause: err });
    }
    if (!isNewer(r, this.taskSets.fleet())) {
      this.log.info({ hash: r.hash, origin: r.origin }, 'older task set from the other controller ignored');
      return;
    }
    this.taskSets.setFleet(r);
    this.fleetError = undefined;
    this.apply(set);
    this.log.info({ hash: r.hash, origin: r.origin, tasks: set.tasks.length, policies: set.policies.length, drift: r.hash !== this.taskSets.localHash() }, 'task set from the other controller in effect');
  }

  taskSetStatus(): TaskSetStatus | undefined {
    const f = this.taskSets.fleet();
    if (!f) return undefined;
    const localHash = this.taskSets.localHash() ?? '';
    return {
      hash: f.hash,
      source: f.origin === this.origin ? 'local' : 'replicated',
      origin: f.origin,
      loadedAt: new Date(f.setMs).toISOString(),
      files: f.files.map((x) => x.name),
      localHash,
      drift: f.hash !== localHash,
      ...(this.fleetError ? { error: this.fleetError } : {}),
    };
  }

  private apply(set: TaskSet): void {
    this.set = set;
    this.scheduler.setTasks(set.tasks);
    this.policies.setPolicies(set.policies);
  }

  async start(): Promise<void> {
    const local = this.readLocal(); // a ConfigError here refuses the controller's start
    const hash = taskFilesHash(local.files);
    const now = Date.now();
    let fleet = this.taskSets.fleet();
    const changed = this.taskSets.localHash() !== hash;
    const empty = local.set.tasks.length + local.set.policies.length === 0;
    if (changed) this.taskSets.setLocalHash(hash, this.origin, now);
    if (!this.d.haId || ((!fleet || changed) && !empty)) {
      // A tasks_dir edited while this controller was down is a change like a reload; an
      // unchanged one is not, so a standby restarted with older files does not undo the
      // fleet's newer set.
      this.setFleet(local.files, hash, now);
      fleet = this.taskSets.fleet()!;
    } else if (!fleet) {
      // A standby set up without the files: its empty set is no change (time 0: any load on
      // the other controller is newer), it takes the fleet's set from the control log.
      fleet = { hash, origin: this.origin, setMs: 0, files: local.files };
      this.taskSets.setFleet(fleet);
    }
    if (fleet.hash === hash) this.apply(local.set);
    else {
      try {
        this.apply(this.parseSet(fleet));
      } catch (err) {
        this.fleetError = `the fleet's task set (${fleet.hash.slice(0, 12)} from ${fleet.origin}) is not valid here, running tasks_dir: ${problemLines(err).join('; ')}`;
        this.log.error({ problems: problemLines(err), origin: fleet.origin }, "the fleet's task set is not valid here; running tasks_dir");
        this.apply(local.set);
      }
    }
    await this.scheduler.start();
    this.policies.start(this.d.cfg.scheduler.tick);
    this.pruneHistory();
    // Like runs: hourly is plenty for a retention counted in days; unref'd so it never holds the process.
    this.pruneTimer = setInterval(() => this.pruneHistory(), 3_600_000);
    this.pruneTimer.unref();
    this.log.info({ tasks: this.set.tasks.length, policies: this.set.policies.length, dir: this.d.cfg.tasks_dir ?? null }, 'automation started');
  }

  /**
   * Re-reads tasks_dir; a bad file is rejected with every problem and the running set stays.
   * A file that lost all its entries keeps its previous ones (warned, reported in `kept`) unless
   * `force`: an empty file seen mid-write must not silently stop its tasks.
   */
  reload(o: { force?: boolean } = {}): { ok: true; tasks: number; policies: number; kept: KeptFile[] } | { ok: false; problems: string[] } {
    try {
      const local = this.readLocal();
      const { set, kept } = o.force ? { set: local.set, kept: [] } : keepEmptiedFiles(this.set, local.set);
      this.apply(set);
      const hash = taskFilesHash(local.files);
      const now = Date.now();
      this.taskSets.setLocalHash(hash, this.origin, now);
      // A file kept from before (caught empty mid-write) makes the running set differ from the
      // files: it becomes the fleet's set once it has entries again, or on a forced reload.
      if (kept.length === 0) this.setFleet(local.files, hash, now);
      for (const k of kept) this.log.warn({ file: k.file, tasks: k.tasks, policies: k.policies }, 'tasks file lost all its entries; previous entries kept (reload with force to accept)');
      this.log.info({ tasks: set.tasks.length, policies: set.policies.length, kept: kept.length, forced: !!o.force }, 'tasks reloaded');
      return { ok: true, tasks: set.tasks.length, policies: set.policies.length, kept };
    } catch (err) {
      const problems = problemLines(err);
      this.log.error({ problems }, 'tasks_dir rejected; running tasks and policies kept');
      return { ok: false, problems };
    }
  }

  /**
   * Task history and remediation records follow the runs they point at: rows older than
   * `runs.keep` are deleted (every-second tasks added ~170 rows a minute, never removed).
   */
  pruneHistory(nowMs = Date.now()): { taskRuns: number; remediations: number } {
    const before = nowMs - this.d.cfg.runs.keep;
    try {
      const r = { taskRuns: this.tasks.prune(before), remediations: this.remediations.prune(before) };
      if (r.taskRuns + r.remediations > 0) this.log.info(r, 'pruned old task runs and remediations');
      return r;
    } catch (err) {
      this.log.error({ err }, 'pruning task runs and remediations failed');
      return { taskRuns: 0, remediations: 0 };
    }
  }

  taskList(): ReadonlyArray<TaskConfig & { file: string }> {
    return this.set.tasks;
  }

  policyList(): ReadonlyArray<PolicyConfig & { file: string }> {
    return this.set.policies;
  }

  private async runTask(task: TaskConfig, signal: AbortSignal): Promise<TaskOutcome> {
    let recap: Extract<RunStreamEvent, { type: 'recap' }> | undefined;
    const output = new Map<string, string[]>();
    try {
      const r = await this.d.dispatcher.execute(
        {
          playbook: task.playbook,
          target: task.target,
          ...(task.concurrency !== undefined ? { concurrency: task.concurrency } : {}),
          ...(task.timeout !== undefined ? { timeoutMs: task.timeout } : {}),
          jitterMs: task.jitter,
          actor: `task:${task.name}`,
        },
        (e) => {
          if (e.type === 'recap') recap = e;
          else if (e.type === 'output') {
            const lines = output.get(e.host) ?? [];
            if (lines.length < REPORT_LINES_PER_HOST) lines.push(...e.text.split('\n').filter((l) => l.trim()).slice(0, REPORT_LINES_PER_HOST - lines.length));
            output.set(e.host, lines);
          }
        },
        signal,
      );
      const c = recap?.counts ?? {};
      const failedHosts = recap?.hosts.filter((h) => h.status !== 'ok') ?? [];
      const reason = r.status === 'ok' ? '' : `${failedHosts.length} host(s) not ok: ${failedHosts.slice(0, 5).map((h) => `${h.host} ${h.status}`).join(', ')}`;
      const report = [
        `ok=${c.ok ?? 0} failed=${c.failed ?? 0} unreachable=${c.unreachable ?? 0} skipped=${c.skipped ?? 0}`,
        ...(recap?.hosts ?? []).map((h) => `${h.host}: ${h.status}${h.error ? ` (${h.error})` : ''}${(output.get(h.host) ?? []).map((l) => `\n  ${l}`).join('')}`),
      ].join('\n');
      return { runId: r.runId, status: r.status, reason, report };
    } catch (err) {
      if (err instanceof RunRequestError || err instanceof OpsError) return { runId: '', status: 'error', reason: err.message };
      throw err;
    }
  }

  private taskFinished(task: TaskConfig, o: TaskOutcome): void {
    const ok = o.status === 'ok';
    const receivers = ok ? task.on_success.notify : task.on_failure.notify;
    const labels = { alertname: ok ? 'TaskSucceeded' : 'TaskFailed', task: task.name, severity: ok ? 'info' : 'warning' };
    if (receivers.length > 0) {
      this.d.alerts.notifyDirect(receivers, {
        key: `task:${task.name}:${ok ? 'ok' : 'failed'}`,
        title: `Task ${task.name} ${ok ? 'succeeded' : `failed (${o.status})`}`,
        text: `${task.playbook} on "${task.target}", run ${o.runId || '-'}${o.reason ? `: ${o.reason}` : ''}`,
        labels,
      });
    }
    if (task.report.notify.length > 0 && o.report) {
      this.d.alerts.notifyDirect(task.report.notify, { key: `task:${task.name}:report`, title: `Report: ${task.name} (${task.playbook})`, text: o.report, labels: { alertname: 'TaskReport', task: task.name, severity: 'info' } });
    }
  }

  private async runRemediation(p: PolicyConfig, target: string, signal: AbortSignal): Promise<{ runId: string; status: string; reason: string }> {
    try {
      const r = await this.d.dispatcher.execute({ playbook: p.run.playbook, target, actor: `policy:${p.name}` }, () => undefined, signal);
      return { runId: r.runId, status: r.status, reason: r.status === 'ok' ? '' : `run ${r.status}` };
    } catch (err) {
      return { runId: '', status: 'error', reason: (err as Error).message };
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.policies.stop();
    await this.scheduler.stop();
  }
}
