import { AckPolicy, DeliverPolicy, jetstream, JetStreamApiCodes, JetStreamApiError, type ConsumerMessages, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type Database from 'better-sqlite3';
import { decodeBatch } from '../../shared/events/codec.js';
import type { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { sleep } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { EVENT_SUBJECTS, parseEventSubject } from '../../shared/nats/subjects.js';
import type { EventsStore } from '../store/events-store.js';
import type { HostsStore, HostStatus } from '../store/hosts-store.js';

export interface HostStatusChange {
  hostId: string;
  from: HostStatus | 'unknown';
  to: HostStatus;
  atMs: number;
  reason: string;
}

export interface IngestDeps {
  nc: NatsConnection;
  jsm: JetStreamManager;
  db: Database.Database;
  hosts: HostsStore;
  events: EventsStore;
  stream: string;
  durable: string;
  maxBatch: number;
  logger: Logger;
  now?: () => number;
  /** Hears every host status change after its transaction committed. */
  onHostStatus?: (c: HostStatusChange) => void;
  /** Hears every newly stored event after commit (alerting and other consumers hook here). */
  onEvents?: (events: Event[]) => void;
}

/**
 * Consumes the event stream through a durable pull consumer and stores events in SQLite. A
 * group of messages is written in one transaction and acked only after it commits, so a
 * controller killed at any moment redelivers instead of losing. Malformed messages are
 * counted, recorded and acked (skipped) so one bad publisher cannot stall ingest.
 */
export class Ingest {
  readonly name = 'ingest';
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private readonly log: Logger;
  private readonly now: () => number;
  readonly stats = { messages: 0, events: 0, duplicates: 0, rejected: 0, transactions: 0, storeErrors: 0 };

  constructor(private readonly d: IngestDeps) {
    this.log = d.logger.child({ component: 'ingest' });
    this.now = d.now ?? Date.now;
  }

  async start(): Promise<void> {
    await this.ensureConsumer();
    this.loop = this.run().catch((err: unknown) => this.log.error({ err }, 'ingest loop failed'));
  }

  private async ensureConsumer(): Promise<void> {
    const config = {
      durable_name: this.d.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(30_000),
      max_ack_pending: 20_000,
      filter_subject: EVENT_SUBJECTS,
    };
    try {
      await this.d.jsm.consumers.info(this.d.stream, this.d.durable);
      await this.d.jsm.consumers.update(this.d.stream, this.d.durable, { ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) await this.d.jsm.consumers.add(this.d.stream, config);
      else throw err;
    }
  }

  private async run(): Promise<void> {
    const js = jetstream(this.d.nc);
    let failures = 0;
    while (!this.stopped) {
      try {
        const consumer = await js.consumers.get(this.d.stream, this.d.durable);
        this.messages = await consumer.consume({ max_messages: Math.max(this.d.maxBatch * 4, 256) });
        let batch: JsMsg[] = [];
        for await (const m of this.messages) {
          batch.push(m);
          // Commit when the batch is full or nothing else is already waiting: high throughput
          // under load, one-message latency when idle.
          if (batch.length >= this.d.maxBatch || this.messages.getPending() === 0) {
            await this.process(batch);
            batch = [];
          }
          if (this.stopped) break;
        }
        if (batch.length > 0) await this.process(batch);
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        failures++;
        this.log.warn({ err, failures }, 'ingest consumer interrupted; retrying');
        await sleep(Math.min(5000, 250 * 2 ** Math.min(failures, 5)));
      }
    }
  }

  /** Stores a group of messages in one transaction, then acks them. */
  private async process(msgs: JsMsg[]): Promise<void> {
    const now = this.now();
    const changes: HostStatusChange[] = [];
    const stored: Event[] = [];
    const rejected: Array<{ m: JsMsg; reason: string }> = [];
    let events = 0;
    let duplicates = 0;
    const tx = this.d.db.transaction(() => {
      for (const m of msgs) {
        const reason = this.storeMessage(m, now, changes, stored);
        if (typeof reason === 'string') {
          rejected.push({ m, reason });
          this.d.events.recordRejected(now, m.subject, m.seq, reason, m.data.length);
        } else {
          events += reason.events;
          duplicates += reason.duplicates;
        }
      }
      if (events) this.d.events.addCounter('events_ingested', events);
      if (duplicates) this.d.events.addCounter('events_duplicate', duplicates);
      if (rejected.length) this.d.events.addCounter('messages_rejected', rejected.length);
    });
    try {
      tx();
    } catch (err) {
      this.stats.storeErrors++;
      this.log.error({ err, messages: msgs.length }, 'event store transaction failed; messages will be redelivered');
      for (const m of msgs) m.nak(1000);
      await sleep(1000);
      return;
    }
    for (const m of msgs) m.ack();
    this.stats.transactions++;
    this.stats.messages += msgs.length;
    this.stats.events += events;
    this.stats.duplicates += duplicates;
    this.stats.rejected += rejected.length;
    for (const r of rejected) {
      this.log.warn({ subject: r.m.subject, streamSeq: r.m.seq, size: r.m.data.length, reason: r.reason }, 'malformed event message skipped');
    }
    for (const c of changes) {
      this.log.info({ hostId: c.hostId, from: c.from, to: c.to, reason: c.reason }, 'host status changed');
      this.d.onHostStatus?.(c);
    }
    if (stored.length && this.d.onEvents) this.d.onEvents(stored);
  }

  /** Returns counts, or the reason the message is malformed. Runs inside the transaction. */
  private storeMessage(m: JsMsg, now: number, changes: HostStatusChange[], stored: Event[]): { events: number; duplicates: number } | string {
    const subj = parseEventSubject(m.subject);
    if (!subj) return `subject ${m.subject} is not opsfleet.ev.<kind>.<hostId>`;
    let batch: Event[];
    try {
      batch = decodeBatch(m.data);
    } catch (err) {
      return (err as Error).message;
    }
    // An agent may only speak for itself under its own subject.
    for (const e of batch) {
      if (e.hostId !== subj.hostId || e.kind !== subj.kind) return `event ${e.id} (host ${e.hostId}, kind ${e.kind}) does not match subject ${m.subject}`;
    }
    let events = 0;
    let duplicates = 0;
    let touched = false;
    for (const e of batch) {
      const { id, hostId, instanceId, seq, tsMs, kind, ...payload } = e;
      const inserted = this.d.events.insert({ id, host_id: hostId, kind, instance_id: instanceId, seq, ts_ms: tsMs, received_ms: now, payload: JSON.stringify(payload) });
      if (!inserted) {
        duplicates++;
        continue;
      }
      events++;
      stored.push(e);
      if (kind === 'hb' && e.heartbeat) {
        const r = this.d.hosts.applyHeartbeat(e.heartbeat, e, now);
        if (r !== 'same') {
          const change: HostStatusChange = { hostId, from: r === 'new' ? 'unknown' : 'offline', to: 'online', atMs: now, reason: r === 'new' ? 'first heartbeat' : 'heartbeat received' };
          this.d.events.insertControllerEvent(hostId, 'host_status', now, { from: change.from, to: change.to, reason: change.reason });
          changes.push(change);
        }
      } else {
        touched = true;
      }
    }
    // A message is one host's batch: proving it alive once per message is enough.
    if (touched) this.d.hosts.touch(subj.hostId, now);
    return { events, duplicates };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // close() waits for pulls to end; the loop then commits and acks what it holds.
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }
}
