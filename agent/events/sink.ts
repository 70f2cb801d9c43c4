import { Alert_State, type Event } from '../../shared/gen/opsfleet/v1/events.js';
import type { EventKind } from '../../shared/nats/subjects.js';

/** What an event carries: a proto message for heartbeats and alerts, JSON for every other kind. */
export type EventPayload = Pick<Event, 'heartbeat' | 'alert' | 'json'>;

/**
 * What an agent component needs to emit events: the outbox, seen through this narrow interface
 * so components (and their tests) do not depend on SQLite. `append` returns only after the
 * event is durable on disk, so a source may advance its checkpoint right after it returns.
 */
export interface EventSink {
  append(kind: EventKind, payload: EventPayload, tsMs?: number): number;
  appendMany(items: ReadonlyArray<{ kind: EventKind; payload: EventPayload; tsMs?: number }>): number[];
  /** False when the outbox is full: sources that must not lose data pause (backpressure). */
  hasRoom(n?: number): boolean;
}

/**
 * One row of a component's durable state kept beside its events (log checkpoints). `value` null
 * deletes the row. Part of the sink interface so components never import the outbox.
 */
export interface StatePut {
  scope: string;
  key: string;
  value: string | null;
}

/**
 * A sink that also keeps component state in the same store: `appendMany(items, state)` commits
 * the events and the state rows in one transaction (log checkpoints travel with their lines).
 */
export interface StatefulSink extends EventSink {
  appendMany(items: ReadonlyArray<{ kind: EventKind; payload: EventPayload; tsMs?: number }>, state?: readonly StatePut[]): number[];
  writeState(puts: readonly StatePut[], replace?: readonly string[]): void;
  readState(scope: string): Array<{ key: string; value: string }>;
}

export interface AlertSpec {
  /** Must include alertname; the controller adds host. */
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** Seconds without re-assertion after which the controller resolves it; 0 = controller default. */
  resolveTimeoutS?: number;
}

/** Emits a firing alert event (re-emit periodically to keep it firing). */
export function fireAlert(sink: EventSink, a: AlertSpec, startsAtMs = Date.now()): number {
  if (!a.labels.alertname) throw new Error('alert labels need alertname');
  return sink.append('alert', {
    alert: { state: Alert_State.STATE_FIRING, labels: a.labels, annotations: a.annotations ?? {}, startsAtMs, endsAtMs: 0, resolveTimeoutS: a.resolveTimeoutS ?? 0 },
  });
}

/** Emits a resolved alert event for the same label set. */
export function resolveAlert(sink: EventSink, a: AlertSpec, endsAtMs = Date.now()): number {
  if (!a.labels.alertname) throw new Error('alert labels need alertname');
  return sink.append('alert', {
    alert: { state: Alert_State.STATE_RESOLVED, labels: a.labels, annotations: a.annotations ?? {}, startsAtMs: 0, endsAtMs, resolveTimeoutS: a.resolveTimeoutS ?? 0 },
  });
}

/** Emits a JSON event of a kind that has no dedicated proto message (check, metric, log, backup, action). */
export function emitJson(sink: EventSink, kind: EventKind, body: unknown, tsMs?: number): number {
  return sink.append(kind, { json: JSON.stringify(body) }, tsMs);
}
