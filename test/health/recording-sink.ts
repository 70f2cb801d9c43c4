import type { EventSink } from '../../agent/events/sink.js';
import type { EventPayload } from '../../agent/events/sink.js';
import type { EventKind } from '../../shared/nats/subjects.js';

export interface Recorded {
  seq: number;
  kind: EventKind;
  payload: EventPayload;
  body: Record<string, unknown> | undefined;
  /** When the component appended it. */
  atMs: number;
}

/**
 * The EventSink boundary recorded in memory: components emit exactly as they do into the
 * outbox, and the test reads what they said in order.
 */
export class RecordingSink implements EventSink {
  readonly events: Recorded[] = [];
  append(kind: EventKind, payload: EventPayload): number {
    const seq = this.events.length + 1;
    this.events.push({ seq, kind, payload, atMs: Date.now(), body: payload.json ? (JSON.parse(payload.json) as Record<string, unknown>) : undefined });
    return seq;
  }
  appendMany(items: ReadonlyArray<{ kind: EventKind; payload: EventPayload }>): number[] {
    return items.map((i) => this.append(i.kind, i.payload));
  }
  hasRoom(): boolean {
    return true;
  }
  checks(name?: string, event?: string): Array<Record<string, unknown>> {
    return this.events.filter((e) => e.kind === 'check' && e.body && (!name || e.body.check === name) && (!event || e.body.event === event)).map((e) => e.body!);
  }
  alerts(alertname?: string): Array<{ state: number; labels: Record<string, string>; annotations: Record<string, string> }> {
    return this.events.filter((e) => e.kind === 'alert' && e.payload.alert && (!alertname || e.payload.alert.labels.alertname === alertname)).map((e) => e.payload.alert!);
  }
}
