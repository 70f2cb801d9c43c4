import type { CheckConfig } from '../../shared/config/health.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import { within } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { emitJson, type EventSink } from '../events/sink.js';
import { CheckRunner, type CheckSnapshot } from './check-runner.js';

/** All configured checks, each on its own timer. */
export class HealthChecks {
  readonly name = 'health';
  private readonly runners: CheckRunner[];
  private st: ComponentStateName = 'new';
  private stopping: Promise<void> | undefined;
  private readonly log: Logger;

  private readonly sink: EventSink;

  constructor(d: { checks: readonly CheckConfig[]; sink: EventSink; logger: Logger }) {
    this.log = d.logger.child({ component: 'health' });
    this.sink = d.sink;
    this.runners = d.checks.map((cfg) => new CheckRunner({ cfg, sink: d.sink, logger: d.logger }));
  }

  start(): Promise<void> {
    // The configured set, so the controller forgets checks removed from this agent's config.
    try {
      emitJson(this.sink, 'check', { event: 'config', check: '', type: '', state: '', checks: this.runners.map((r) => r.name) });
    } catch (err) {
      this.log.error({ err }, 'check config event not stored');
    }
    for (const r of this.runners) r.start();
    this.st = 'running';
    if (this.runners.length) this.log.info({ checks: this.runners.map((r) => r.name) }, 'health checks started');
    return Promise.resolve();
  }

  snapshots(): CheckSnapshot[] {
    return this.runners.map((r) => r.snapshot());
  }

  runner(name: string): CheckRunner | undefined {
    return this.runners.find((r) => r.name === name);
  }

  /** Operator action: forget a check's restart attempts and retry now if it is down. */
  resetRestarts(name: string): { found: boolean; state: string; restarting: boolean } {
    const r = this.runner(name);
    if (!r) return { found: false, state: '', restarting: false };
    this.log.warn({ check: name }, 'restart budget reset by operator');
    r.resetRestarts();
    const s = r.snapshot();
    return { found: true, state: s.state, restarting: s.restarting };
  }

  state(): { state: ComponentStateName; detail: string } {
    const s = this.snapshots();
    const down = s.filter((c) => c.state === 'down').map((c) => c.name);
    return { state: this.st, detail: `${s.length} checks${down.length ? `, down: ${down.join(', ')}` : ''}` };
  }

  /** Stops every check (supervised processes get their stop_grace), bounded by `graceMs`. */
  stop(graceMs = 6000): Promise<void> {
    this.stopping ??= (async () => {
      this.st = 'stopping';
      const all = Promise.all(this.runners.map((r) => r.stop()));
      if (!(await within(all, graceMs))) this.log.warn('health checks did not stop within grace');
      this.st = 'stopped';
    })();
    return this.stopping;
  }
}
