import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Event, EventBatch } from '../gen/opsfleet/v1/events.js';
import { OpsError } from '../errors.js';
import { eventProblem } from './validate.js';

export { Event, EventBatch };

/**
 * Builds an encoded EventBatch from already-encoded Events without decoding them again: a
 * batch is just field 1 (length-delimited) repeated, so the outbox's stored bytes go out as is.
 */
export function encodeBatchFromEncoded(events: readonly Uint8Array[]): Uint8Array {
  const w = new BinaryWriter();
  for (const e of events) w.uint32((1 << 3) | 2).bytes(e);
  return w.finish();
}

/** Decodes a JetStream message body; throws OPS_ERR_EVENT_MALFORMED with the reason. */
export function decodeBatch(data: Uint8Array): Event[] {
  let batch: EventBatch;
  try {
    batch = EventBatch.decode(data);
  } catch (err) {
    throw new OpsError('OPS_ERR_EVENT_MALFORMED', `not an EventBatch: ${(err as Error).message}`, { cause: err });
  }
  if (batch.events.length === 0) throw new OpsError('OPS_ERR_EVENT_MALFORMED', 'empty EventBatch');
  for (const [i, e] of batch.events.entries()) {
    if (!e.id || !e.hostId || !e.kind || !e.instanceId || e.seq <= 0) {
      throw new OpsError('OPS_ERR_EVENT_MALFORMED', `event ${i} lacks id, host_id, instance_id, kind or seq`);
    }
  }
  return batch.events;
}

/** One event of a batch that cannot be stored, with the reason (see `eventProblem`). */
export interface RejectedEvent {
  index: number;
  id: string;
  reason: string;
}

/**
 * Decodes a batch and sorts its events into storable and rejected ones. Throws
 * OPS_ERR_EVENT_MALFORMED when the message as a whole is unusable (not protobuf, empty, an
 * event without identity); a single nonsensical event (unknown kind, non-JSON payload, absurd
 * ts_ms) is rejected alone so its well-formed neighbours are still stored.
 */
export function decodeAndValidateBatch(data: Uint8Array): { all: Event[]; events: Event[]; rejected: RejectedEvent[] } {
  const all = decodeBatch(data);
  const events: Event[] = [];
  const rejected: RejectedEvent[] = [];
  for (const [index, e] of all.entries()) {
    const reason = eventProblem(e);
    if (reason === undefined) events.push(e);
    else rejected.push({ index, id: e.id, reason });
  }
  return { all, events, rejected };
}
