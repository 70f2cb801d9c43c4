import type { CheckConfig, Severity } from '../../shared/config/health.js';
import type { Logger } from '../../shared/logger.js';
import { emitJson, fireAlert, resolveAlert, type EventSink } from '../events/sink.js';

/** Alert names this folder raises (label `alertname`). */
export type CheckAlertName = 'CheckDown' | 'CheckWarning' | 'RestartGaveUp';

/**
 * Body of a `check` event (JSON payload). `event` says what happened: a probe `result`, a state
 * `transition`, a `restart` phase, a `supervise` phase or `gave_up`. The controller keeps the
 * latest state per (host, check) from these.
 */
export interface CheckEventBody {
  check: string;
  type: string;
  event: 'result' | 'transition' | 'restart' | 'supervise' | 'gave_up' | 'recovered';
  state: string;
  [field: string]: unknown;
}

/**
 * One check's voice: check events and its alerts, all labelled alike. A failed append (outbox
 * closed at shutdown) is logged and counted, never thrown into a timer.
 */
export class CheckEvents {
  failedAppends = 0;

  constructor(
    private readonly sink: EventSink,
    private readonly cfg: Pick<CheckConfig, 'name' | 'type' | 'severity'>,
    private readonly log: Logger,
  ) {}

  emit(event: CheckEventBody['event'], state: string, fields: Record<string, unknown> = {}): void {
    const body: CheckEventBody = { check: this.cfg.name, type: this.cfg.type, event, state, ...fields };
    this.guard(() => emitJson(this.sink, 'check', body));
  }

  fire(alertname: CheckAlertName, severity: Severity, annotations: Record<string, string>, startsAtMs: number): void {
    this.guard(() => fireAlert(this.sink, { labels: this.labels(alertname, severity), annotations, resolveTimeoutS: 300 }, startsAtMs));
  }

  resolve(alertname: CheckAlertName, severity: Severity, annotations: Record<string, string> = {}): void {
    this.guard(() => resolveAlert(this.sink, { labels: this.labels(alertname, severity), annotations, resolveTimeoutS: 300 }));
  }

  private labels(alertname: CheckAlertName, severity: Severity): Record<string, string> {
    return { alertname, check: this.cfg.name, check_type: this.cfg.type, severity };
  }

  private guard(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.failedAppends++;
      this.log.error({ err }, 'check event not stored');
    }
  }
}

