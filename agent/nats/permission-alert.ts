import { PermissionViolationError } from '@nats-io/transport-node';
import type { Logger } from '../../shared/logger.js';
import { fireAlert, type EventSink } from '../events/sink.js';

/** Raised by an agent whose NATS server refused something it did (see docs/identity.md). */
export const NATS_PERMISSION_DENIED = 'NatsPermissionDenied';

/**
 * The agent's half of counting permission violations: nats-server 2.9 tells only the client
 * (an async `-ERR 'Permissions Violation …'`), so the agent reports what it receives as an
 * alert event through its outbox (its own subjects are still allowed). A healthy agent never
 * triggers this: it means its credentials do not match its host id or a bug publishes elsewhere.
 * Re-asserted at most once a minute per subject, counted in `counts`.
 */
export class NatsPermissionAlert {
  readonly counts = new Map<string, number>();
  private readonly lastFired = new Map<string, number>();
  private readonly log: Logger;

  constructor(
    private readonly o: { sink: EventSink; hostId: string; logger: Logger; now?: () => number },
  ) {
    this.log = o.logger.child({ component: 'nats.permissions' });
  }

  /** The connection's async-error listener. */
  onError = (err: Error): void => {
    if (!(err instanceof PermissionViolationError)) return;
    const key = `${err.operation} ${err.subject}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    const now = (this.o.now ?? Date.now)();
    if (now - (this.lastFired.get(key) ?? 0) < 60_000) return;
    this.lastFired.set(key, now);
    this.log.error({ operation: err.operation, subject: err.subject, count: n }, 'the NATS server refused a permission');
    try {
      fireAlert(this.o.sink, {
        labels: { alertname: NATS_PERMISSION_DENIED, severity: 'critical', operation: err.operation, subject: err.subject },
        annotations: { summary: `the NATS server refused ${err.operation} to "${err.subject}" by the agent on ${this.o.hostId} (${n} time(s) since it started): its credentials allow only opsfleet.ev.*.${this.o.hostId}` },
        resolveTimeoutS: 3600,
      });
    } catch (e) {
      this.log.error({ err: e }, `${NATS_PERMISSION_DENIED} alert not written`);
    }
  };
}
