import type Database from 'better-sqlite3';
import type { ControllerConfig } from '../../shared/config/controller.js';
import type { PolicyConfig, TaskConfig } from '../../shared/config/tasks.js';
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
import { keepEmptiedFiles, loadTasksDir, type KeptFile, type TaskSet } from './tasks-loader.js';

const REPORT_LINES_PER_HOST = 6;

/**
 * Scheduled tasks and self-healing policies from tasks_dir, wired to the run dispatcher and
 * alerting. A bad tasks_dir at start refuses the start; on reload it is rejected and the
 * running set stays.
 */
export class Automation {
  readonly name = 'automation';
  readonly scheduler: Scheduler;
  readonly policies: PolicyEngine;
  readonly tasks: TaskStore;
  readonly remediations: RemediationStore;
  private set: TaskSet = { tasks: [], policies: [], files: [] };
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
    },
  ) {
    this.log = d.logger.child({ component: 'automation' });
    this.tasks = new TaskStore(d.db);
    this.remediations = new RemediationStore(d.db);
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
      audit: d.audit,
      globalPerMinute: d.cfg.scheduler.max_remediations_per_minute,
      logger: d.logger,
      ...(d.leadership ? { mayAct: () => d.leadership!.isLeader() } : {}),
    });
  }

  private load(): TaskSet {
    const dir = this.d.cfg.tasks_dir;
    if (!dir) return { tasks: [], policies: [], files: [] };
    return loadTasksDir(dir, {
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
    });
  }

  private apply(set: TaskSet): void {
    this.set = set;
    this.scheduler.setTasks(set.tasks);
    this.policies.setPolicies(set.policies);
  }

  async start(): Promise<void> {
    this.apply(this.load()); // a ConfigError here refuses the controller's start
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
      const loaded = this.load();
      const { set, kept } = o.force ? { set: loaded, kept: [] } : keepEmptiedFiles(this.set, loaded);
      this.apply(set);
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
