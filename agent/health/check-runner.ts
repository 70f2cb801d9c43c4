import type { CheckConfig } from '../../shared/config/health.js';
import { formatDuration } from '../../shared/duration.js';
import { sleep } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import type { EventSink } from '../events/sink.js';
import { CheckEvents } from './check-events.js';
import { probe as probeAny } from './index.js';
import { Restarter } from './restarter.js';
import { CheckStateMachine, type CheckState } from './state-machine.js';
import type { ProbeResult, ProbeStatus } from './types.js';

/** While DOWN, CheckDown is re-asserted this often so the controller keeps it firing. */
const REFIRE_MS = 60_000;
/** A probe that ignores its abort signal is abandoned this long after its timeout. */
const ABANDON_GRACE_MS = 50;

export interface CheckRunnerDeps {
  cfg: CheckConfig;
  sink: EventSink;
  logger: Logger;
  /** Replaces the registered probe (benchmarks); defaults to the check type's. */
  probe?: (cfg: CheckConfig, signal: AbortSignal) => Promise<ProbeResult>;
}

export interface CheckSnapshot {
  name: string;
  type: string;
  state: CheckState;
  status: ProbeStatus | 'none';
  detail: string;
  latencyMs: number;
  lastProbeMs: number;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  restarting: boolean;
  gaveUp: boolean;
  probes: number;
  timeouts: number;
  /** Restart attempts (command or supervise, crash respawns included) since the agent started. */
  restarts: number;
}

/**
 * One check on its own timer: probe with a hard timeout (the probe's AbortSignal fires at
 * `timeout`, and the runner stops waiting shortly after even if the probe ignores it), feed the
 * state machine, emit `check` events and CheckDown/CheckWarning alerts, and hand DOWN to the
 * restart action. Probes never overlap; a slow check delays only itself.
 */
export class CheckRunner {
  readonly name: string;
  private readonly sm: CheckStateMachine;
  private readonly events: CheckEvents;
  private readonly restarter: Restarter | undefined;
  private readonly log: Logger;
  private readonly probeFn: (cfg: CheckConfig, signal: AbortSignal) => Promise<ProbeResult>;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private last: (ProbeResult & { atMs: number }) | undefined;
  private lastReportMs = 0;
  private downSinceMs = 0;
  private lastFireMs = 0;
  private stopping: Promise<void> | undefined;
  readonly stats = { probes: 0, timeouts: 0, abandoned: 0, errors: 0 };

  constructor(private readonly d: CheckRunnerDeps) {
    const cfg = d.cfg;
    this.name = cfg.name;
    this.log = d.logger.child({ component: 'health.check', check: cfg.name });
    this.sm = new CheckStateMachine(cfg.failures, cfg.successes);
    this.events = new CheckEvents(d.sink, cfg, this.log);
    this.probeFn = d.probe ?? probeAny;
    if (cfg.on_failure) {
      this.restarter = new Restarter({
        cfg: cfg.on_failure.restart,
        checkName: cfg.name,
        events: this.events,
        logger: d.logger,
        state: () => this.sm.state,
        verify: (ms, signal) => this.verify(ms, signal),
      });
    }
  }

  start(): void {
    this.restarter?.start();
    // Spread first probes so many checks with one interval do not all fire together.
    this.schedule(Math.floor(Math.random() * Math.min(1000, this.d.cfg.interval / 10)));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.loop = this.tick();
    }, ms);
  }

  private async tick(): Promise<void> {
    const started = performance.now();
    try {
      // During a restart attempt the verification probes instead of the regular schedule.
      if (!this.restarter?.busy) await this.probeOnce();
    } catch (err) {
      this.stats.errors++;
      this.log.error({ err }, 'check tick failed');
    }
    this.schedule(Math.max(0, this.d.cfg.interval - (performance.now() - started)));
  }

  /** One probe with a hard timeout, observed by the state machine. */
  async probeOnce(): Promise<ProbeResult> {
    const cfg = this.d.cfg;
    const ac = new AbortController();
    const onStop = () => ac.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    const soft = setTimeout(() => ac.abort(), cfg.timeout);
    let hard: NodeJS.Timeout | undefined;
    const abandoned = new Promise<ProbeResult>((resolve) => {
      hard = setTimeout(() => {
        this.stats.abandoned++;
        resolve({ status: 'fail', detail: 'probe did not stop at its timeout; abandoned', latencyMs: cfg.timeout });
      }, cfg.timeout + ABANDON_GRACE_MS);
    });
    let r: ProbeResult;
    try {
      r = await Promise.race([
        this.probeFn(cfg, ac.signal).catch((err: unknown): ProbeResult => ({ status: 'fail', detail: `probe error: ${(err as Error).message}`, latencyMs: 0 })),
        abandoned,
      ]);
    } finally {
      clearTimeout(soft);
      clearTimeout(hard);
      this.abort.signal.removeEventListener('abort', onStop);
    }
    this.stats.probes++;
    if (ac.signal.aborted && r.status === 'fail') {
      this.stats.timeouts++;
      r = { status: 'fail', detail: `timed out after ${formatDuration(cfg.timeout)} (${r.detail})`, latencyMs: r.latencyMs };
    }
    if (!this.stopped) this.observe(r);
    return r;
  }

  private observe(r: ProbeResult): void {
    const cfg = this.d.cfg;
    const now = Date.now();
    const prev = this.last?.status;
    this.last = { ...r, atMs: now };
    const t = this.sm.observe(r.status);
    const fields = { status: r.status, detail: r.detail, latency_ms: r.latencyMs, failures: this.sm.consecutiveFailures, successes: this.sm.consecutiveSuccesses };
    if (t) {
      this.lastReportMs = now;
      this.log[t.to === 'down' ? 'warn' : 'info']({ from: t.from, to: t.to, detail: r.detail, streak: t.streak }, 'check state changed');
      this.events.emit('transition', t.to, { from: t.from, reason: r.detail, attempt: t.streak, ...fields });
      if (t.to === 'down') {
        this.downSinceMs = now;
        this.lastFireMs = now;
        this.events.fire('CheckDown', cfg.severity, { summary: `check ${cfg.name} is down`, detail: r.detail }, now);
        this.restarter?.onDown();
      } else if (t.from === 'down') {
        this.events.resolve('CheckDown', cfg.severity, { summary: `check ${cfg.name} recovered`, detail: r.detail });
        this.restarter?.onUp();
      }
    } else if (r.status !== prev || now - this.lastReportMs >= cfg.report_every) {
      this.lastReportMs = now;
      this.events.emit('result', this.sm.state, fields);
    }
    if (r.status === 'warn' && prev !== 'warn') this.events.fire('CheckWarning', 'warning', { summary: `check ${cfg.name} warns`, detail: r.detail }, now);
    else if (prev === 'warn' && r.status !== 'warn') this.events.resolve('CheckWarning', 'warning', { detail: r.detail });
    if (this.sm.state === 'down' && !t && now - this.lastFireMs >= REFIRE_MS) {
      this.lastFireMs = now;
      this.events.fire('CheckDown', cfg.severity, { summary: `check ${cfg.name} is down`, detail: r.detail }, this.downSinceMs);
    }
  }

  /** Restart verification: probe (at most every interval, at least every second) until up. */
  private async verify(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    const every = Math.min(this.d.cfg.interval, 1000);
    while (!signal.aborted && !this.stopped) {
      const started = performance.now();
      await this.probeOnce();
      if (this.isUp()) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await sleep(Math.min(left, Math.max(0, every - (performance.now() - started))), signal);
      if (performance.now() >= deadline) {
        // One last look: the service may have come up during the wait.
        await this.probeOnce();
        return this.isUp();
      }
    }
    return false;
  }

  private isUp(): boolean {
    return this.sm.state === 'up';
  }

  /** Operator action: forget restart attempts (after a give-up) and retry now if down. */
  resetRestarts(): void {
    this.restarter?.reset();
  }

  snapshot(): CheckSnapshot {
    return {
      name: this.name,
      type: this.d.cfg.type,
      state: this.sm.state,
      status: this.last?.status ?? 'none',
      detail: this.last?.detail ?? '',
      latencyMs: this.last?.latencyMs ?? 0,
      lastProbeMs: this.last?.atMs ?? 0,
      consecutiveFailures: this.sm.consecutiveFailures,
      consecutiveSuccesses: this.sm.consecutiveSuccesses,
      restarting: this.restarter?.busy ?? false,
      gaveUp: this.restarter?.hasGivenUp ?? false,
      probes: this.stats.probes,
      timeouts: this.stats.timeouts,
      restarts: this.restarter?.stats.attempts ?? 0,
    };
  }

  get supervisedPid(): number | undefined {
    return this.restarter?.supervisedPid;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      clearTimeout(this.timer);
      this.abort.abort();
      await this.restarter?.stop();
      await this.loop;
    })();
    return this.stopping;
  }
}
