import { DiscardPolicy, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { EVENT_SUBJECTS } from './subjects.js';

export interface EventStreamOptions {
  name: string;
  maxAgeMs: number;
  maxBytes: number;
  duplicateWindowMs: number;
  replicas: number;
}

/**
 * Creates the event stream, or updates its limits when it exists: running this on every
 * controller start is safe and is how a changed retention reaches the server.
 */
export async function ensureEventStream(nc: NatsConnection, o: EventStreamOptions): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const cfg: Partial<StreamConfig> & { name: string; subjects: string[] } = {
    name: o.name,
    subjects: [EVENT_SUBJECTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(o.maxAgeMs),
    max_bytes: o.maxBytes,
    duplicate_window: nanos(o.duplicateWindowMs),
    num_replicas: o.replicas,
  };
  try {
    await jsm.streams.info(o.name);
    await jsm.streams.update(o.name, cfg);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      await jsm.streams.add(cfg);
    } else {
      throw err;
    }
  }
  return jsm;
}
