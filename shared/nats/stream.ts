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

/**
 * `expires` of the controller's pull requests (ingest, control log). nats.js derives the idle
 * heartbeat from it (half) and re-issues the pull after two missed heartbeats: a pull held by a
 * consumer leader on a NATS node that died is noticed after `expires`. The default (30 s) left
 * ingest stalled for 30–60 s after a cluster node loss (test/cluster/failover.test.ts); 10 s
 * costs one empty pull request per 10 s while idle.
 */
export const PULL_EXPIRES_MS = 10_000;
