import type { RestartConfig } from '../../shared/config/health.js';
import { formatDuration } from '../../shared/duration.js';
import { sleep } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import type { CheckEvents } from './check-events.js';
import { runShell } from './command.js';
import { RestartBudget } from './restart-budget.js';
import { Supervisor, type ExitInfo } from './supervisor.js';

/** Longest delay between attempts, however many doublings. */
const MAX_BACKOFF_MS = 5 * 60_000;
/** A supervised process that ran this long is stable again: its crash backoff starts over. */
const STABLE_AFTER_MS = 30_000;

export interface RestarterDeps {
  cfg: RestartConfig;
  checkName: string;
  events: CheckEvents;
  logger: Logger;
  /** The check's current state. */
  state(): 'unknown' | 'up' | 'down';
  /** Probes until the check is up or `timeoutMs` passes; true when up. */
  verify(timeoutMs: number, signal: AbortSignal): Promise<boolean>;
}

/**
 * The self-healing action of one check: on DOWN run the restart command (or restart the
 * supervised process), re-verify within `verify_timeout`, back off (doubling) between attempts,
 * and after `max_restarts` within `within` give up LOUDLY: a critical RestartGaveUp alert, then
 * nothing until the window frees an attempt, the check recovers, or an operator resets it.
 */
export class Restarter {
  private readonly budget: RestartBudget;
  private readonly supervisor: Supervisor | undefined;
  private readonly abort = new AbortController();
  private remediation: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private gaveUp = false;
  private crashStreak = 0;
  private respawning: Promise<void> | undefined;
  private readonly log: Logger;
  readonly stats = { attempts: 0, verified: 0, failed: 0, gaveUp: 0, crashes: 0 };

  constructor(private readonly d: RestarterDeps) {
    this.log = d.logger.child({ component: 'health.restart', check: d.checkName });
    this.budget = new RestartBudget(d.cfg.max_restarts, d.cfg.within);
    if (d.cfg.supervise) this.supervisor = new Supervisor(d.cfg.supervise, (e) => this.onCrash(e), this.log);
  }

  /** True while a restart attempt (including its verification) is in progress. */
  get busy(): boolean {
    return this.remediation !== undefined;
  }

  get hasGivenUp(): boolean {
    return this.gaveUp;
  }

  get supervisedPid(): number | undefined {
    return this.supervisor?.pid;
  }

  /** Supervise mode: start the process now. */
  start(): void {
    if (!this.supervisor) return;
    try {
      const pid = this.supervisor.spawn();
      this.d.events.emit('supervise', this.d.state(), { phase: 'started', pid, attempt: 0 });
    } catch (err) {
      this.log.error({ err }, 'cannot start supervised process');
    }
  }

  /** The check went DOWN. */
  onDown(): void {
    if (this.remediation || this.gaveUp || this.abort.signal.aborted) return;
    this.remediation = this.remediate()
      .catch((err: unknown) => this.log.error({ err }, 'restart failed unexpectedly'))
      .finally(() => {
        this.remediation = undefined;
      });
  }

  /** The check is UP again (after a restart or on its own). */
  onUp(): void {
    if (this.gaveUp) {
      this.gaveUp = false;
      clearTimeout(this.retryTimer);
      this.d.events.resolve('RestartGaveUp', 'critical', { summary: `check ${this.d.checkName} recovered` });
    }
  }

  /** Operator action: forget past attempts and try again now if the check is down. */
  reset(): void {
    this.budget.reset();
    this.crashStreak = 0;
    this.d.events.emit('restart', this.d.state(), { phase: 'reset' });
    if (this.gaveUp) {
      this.gaveUp = false;
      clearTimeout(this.retryTimer);
      this.d.events.resolve('RestartGaveUp', 'critical', { summary: `restart budget of ${this.d.checkName} reset by an operator` });
    }
    if (this.supervisor && !this.supervisor.running) this.respawnAfterCrash();
    else if (this.d.state() === 'down') this.onDown();
  }

  private backoffFor(n: number): number {
    return Math.min(MAX_BACKOFF_MS, this.d.cfg.backoff * 2 ** Math.max(0, n - 1));
  }

  private async remediate(): Promise<void> {
    const signal = this.abort.signal;
    let n = 0;
    // Supervise mode: a crash respawn already under way is this restart; judge it first.
    if (this.respawning) {
      await this.respawning;
      if (await this.d.verify(this.d.cfg.verify_timeout, signal)) return;
    }
    while (!signal.aborted && this.d.state() === 'down') {
      if (!this.budget.canRestart()) return this.giveUp();
      if (n > 0) {
        await sleep(this.backoffFor(n), signal);
        if (signal.aborted || this.d.state() !== 'down') return;
      }
      n++;
      const attempt = this.budget.spend();
      this.stats.attempts++;
      const action = this.supervisor ? 'supervise' : 'command';
      this.log.warn({ attempt, max: this.d.cfg.max_restarts, action }, 'restarting');
      this.d.events.emit('restart', 'down', { phase: 'attempt', attempt, max_restarts: this.d.cfg.max_restarts, action });
      const ran = await this.runAction(signal);
      this.d.events.emit('restart', 'down', { phase: 'ran', attempt, ok: ran.ok, detail: ran.detail });
      if (signal.aborted) return;
      const up = ran.ok && (await this.d.verify(this.d.cfg.verify_timeout, signal));
      if (signal.aborted) return;
      if (up) {
        this.stats.verified++;
        this.log.info({ attempt }, 'restart verified: check is up');
        this.d.events.emit('restart', 'up', { phase: 'verified', attempt });
        return;
      }
      this.stats.failed++;
      this.log.warn({ attempt, verifyTimeout: this.d.cfg.verify_timeout }, 'restart did not bring the check up');
      this.d.events.emit('restart', this.d.state(), { phase: 'failed', attempt, detail: ran.ok ? `check not up within ${formatDuration(this.d.cfg.verify_timeout)}` : ran.detail });
    }
  }

  private async runAction(signal: AbortSignal): Promise<{ ok: boolean; detail: string }> {
    if (this.supervisor) {
      try {
        const pid = await this.supervisor.restart();
        return { ok: true, detail: `started pid ${pid}` };
      } catch (err) {
        return { ok: false, detail: (err as Error).message };
      }
    }
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const t = setTimeout(() => ac.abort(), this.d.cfg.command_timeout);
    try {
      const r = await runShell(this.d.cfg.command!, { signal: ac.signal });
      const out = r.output.trim().split('\n')[0]?.slice(0, 200) ?? '';
      if (r.error) return { ok: false, detail: r.error };
      if (r.timedOut) return { ok: false, detail: `restart command timed out after ${formatDuration(this.d.cfg.command_timeout)}` };
      if (r.code !== 0) return { ok: false, detail: `restart command exit ${r.code ?? r.signal}${out ? `: ${out}` : ''}` };
      return { ok: true, detail: out || 'exit 0' };
    } finally {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private giveUp(): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    this.stats.gaveUp++;
    const retryIn = this.budget.msUntilAvailable();
    const summary = `${this.d.checkName}: ${this.budget.max} restarts within ${formatDuration(this.d.cfg.within)} did not fix it; not restarting again for ${formatDuration(Math.ceil(retryIn / 1000) * 1000)}`;
    this.log.error({ maxRestarts: this.budget.max, within: this.d.cfg.within, retryInMs: retryIn }, 'restart gave up');
    this.d.events.emit('gave_up', this.d.state(), { max_restarts: this.budget.max, within_ms: this.d.cfg.within, retry_in_ms: retryIn });
    this.d.events.fire('RestartGaveUp', 'critical', { summary }, Date.now());
    // The window frees an attempt later: try again then if still broken (the alert stays until it is fixed).
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.abort.signal.aborted) return;
      this.gaveUp = false;
      if (this.supervisor && !this.supervisor.running) this.respawnAfterCrash();
      else if (this.d.state() === 'down') this.onDown();
    }, retryIn + 10);
  }

  /** Supervise mode: the process exited on its own. Respawn with doubling backoff, within the budget. */
  private onCrash(e: ExitInfo): void {
    if (this.abort.signal.aborted) return;
    this.stats.crashes++;
    this.crashStreak = e.ranMs >= STABLE_AFTER_MS ? 1 : this.crashStreak + 1;
    this.log.warn({ pid: e.pid, code: e.code, signal: e.signal, ranMs: e.ranMs, streak: this.crashStreak }, 'supervised process exited');
    this.d.events.emit('supervise', this.d.state(), { phase: 'exited', pid: e.pid, code: e.code, signal: e.signal, ran_ms: e.ranMs });
    this.respawnAfterCrash();
  }

  private respawnAfterCrash(): void {
    if (this.respawning || this.abort.signal.aborted) return;
    if (!this.budget.canRestart()) return this.giveUp();
    const delay = this.backoffFor(this.crashStreak);
    this.respawning = sleep(delay, this.abort.signal).then(() => {
      this.respawning = undefined;
      // A check-driven restart may have started it meanwhile.
      if (this.abort.signal.aborted || this.supervisor!.running) return;
      const attempt = this.budget.spend();
      this.stats.attempts++;
      try {
        const pid = this.supervisor!.spawn();
        this.d.events.emit('supervise', this.d.state(), { phase: 'started', pid, attempt, after_ms: delay });
      } catch (err) {
        this.log.error({ err }, 'cannot respawn supervised process');
      }
    });
  }

  /** Stops retrying and, in supervise mode, stops the process (bounded by its stop_grace). */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.retryTimer);
    await this.remediation;
    await this.supervisor?.kill();
  }
}
