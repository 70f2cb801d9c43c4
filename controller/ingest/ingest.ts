import { AckPolicy, DeliverPolicy, jetstream, JetStreamApiCodes, JetStreamApiError, type ConsumerMessages, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type Database from 'better-sqlite3';
import { decodeAndValidateBatch } from '../../shared/events/codec.js';
import type { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { sleep } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { EVENT_SUBJECTS, parseEventSubject } from '../../shared/nats/subjects.js';
import type { EventsStore } from '../store/events-store.js';
import type { HostsStore, HostStatus } from '../store/hosts-store.js';
import { DERIVED_KINDS, SampleHighWater } from './sample-high-water.js';
import { PULL_EXPIRES_MS } from '../../shared/nats/stream.js';

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
  /** Hears agents whose sequence went backwards (lost outbox, forgery) after commit. */
  onSeqRegression?: (r: SeqRegression) => void;
  /** How long a partial batch waits for more messages before it is stored (default INGEST_LINGER_MS; 0 = store at once). */
  lingerMs?: number;
  /** How long the server waits for an ack before redelivering (default 30 s; tests shorten it). */
  ackWaitMs?: number;
  /** Hosts whose identity was removed (opsctl hosts remove): their messages are rejected whole. */
  isRemoved?: (hostId: string) => boolean;
  /** Called once when the database reports corruption: ingest stops, the owner degrades. */
  onCorrupt?: (err: Error) => void;
  /**
   * Raw retention (ms) by class: `samples` for high-volume events the controller also keeps in
   * derived form (heartbeats → the host row, metric samples → metric history, unchanged check
   * results → check state, log batches → log statistics and lines), `events` for the rest.
   */
  retention?: { eventsMs: number; samplesMs: number };
  /**
   * `derived`: heartbeats and metric samples update the host record and the metric tables but
   * leave no raw event row (`ingest.raw_samples`); default `store`.
   */
  rawSamples?: 'store' | 'derived';
  /** Let the event loop turn between two transactions (default true; false only to measure the difference). */
  yieldBetweenBatches?: boolean;
}

/**
 * Messages the consumer keeps delivered but not yet stored: two batches (one being stored, one
 * arriving), at least 32. It was 4 x max_batch (1,024 by default): on a controller starved of
 * CPU (seen at load 30) the last of them waited past ack_wait and JetStream sent them again —
 * dropped as duplicates, but stored-and-thrown-away work exactly when there is no CPU to spare.
 * Every prefetched message must be stored within ack_wait; two batches keep that margin wide.
 */
export function ingestPrefetch(maxBatch: number): number {
  return Math.max(2 * maxBatch, 32);
}

/**
 * A partial batch waits this long for more messages before it is stored. At 1,000 simulated
 * agents (350 messages/s arriving one by one) ingest committed nearly once per message and a
 * third of the controller's CPU was SQLite commits; 25 ms groups them (up to ~90 messages at
 * 3,500/s) for 25 ms of latency, well inside the 1 s ingest goal.
 */
export const INGEST_LINGER_MS = 25;

/** Whether an event is a high-volume sample (short raw retention) rather than a rare, telling one. */
export function isSample(e: Pick<Event, 'kind' | 'json'>): boolean {
  if (e.kind === 'hb' || e.kind === 'metric' || e.kind === 'log') return true;
  if (e.kind !== 'check' || e.json === undefined) return false;
  try {
    return (JSON.parse(e.json) as { event?: unknown }).event === 'result';
  } catch {
    return false;
  }
}

/** An agent instance that sent a seq it had already used (with other content) or one lower than its applied heartbeat. */
export interface SeqRegression {
  hostId: string;
  instanceId: string;
  seq: number;
  lastSeq: number;
  how: 'seq reused with other content' | 'heartbeat seq went backwards';
}

/** How often one host's seq-regression or clock-skew warning is logged (the counter counts every one). */
const WARN_EVERY_MS = 60_000;

/** What storing needs of a message: a delivered one (JsMsg) or one read from the stream by sequence. */
type IngestMsg = Pick<JsMsg, 'subject' | 'seq' | 'data'> & { info?: Pick<JsMsg['info'], 'timestampNanos'> };

/** How far a message's stream time may lie behind the store time and still count as when the host was heard. */
const SEEN_SKEW_MS = 5000;

/**
 * When a message's host was heard: the message's arrival in the stream (the broker's clock) when
 * that is at most SEEN_SKEW_MS before `now`, else `now`. A heartbeat that waited in ingest for a
 * moment (a burst of run results, a checkpoint) was still sent on time, so the host's silence is
 * counted from its arrival and offline detection is not postponed by ingest's lag. A stamp from
 * the future (a broker clock ahead) or far back (a backlog: readThrough judges silence then) is
 * not used, so a broker clock that is off moves detection by SEEN_SKEW_MS at most.
 */
export function seenAt(m: Pick<IngestMsg, 'info'>, now: number): number {
  const ns = m.info?.timestampNanos;
  if (!ns) return now;
  const t = Math.floor(ns / 1e6);
  return t <= now && now - t <= SEEN_SKEW_MS ? t : now;
}

interface Accumulator {
  /** Messages of a previous run read back at start: nothing is recorded as rejected (their redelivery does it). */
  recovering: boolean;
  changes: HostStatusChange[];
  stored: Event[];
  regressions: SeqRegression[];
  skews: Array<{ hostId: string; skewMs: number; flagged: boolean }>;
  rejected: Array<{ m: IngestMsg; reason: string }>;
  /** Sample marks of this transaction (derived raw samples), kept once it commits. */
  marks: Map<string, { instanceId: string; seq: number; tsMs: number }>;
  events: number;
  duplicates: number;
  rejectedEvents: number;
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
  /** `redelivered`: messages JetStream sent again (ack_wait passed before they were stored and acked). */
  readonly stats = { recovered: 0, messages: 0, events: 0, duplicates: 0, rejected: 0, rejectedEvents: 0, seqRegressions: 0, transactions: 0, storeErrors: 0, redelivered: 0 };
  private readonly lastWarned = new Map<string, number>();
  /** Per host, the last stored inventory without its uptime (see storedPayload). */
  private readonly lastInventory = new Map<string, string>();
  /** Set when the database reported corruption: the loop stops pulling (messages stay in the stream). */
  corrupt: Error | undefined;
  /**
   * While a backlog waits in the stream: the stream time (ms) of the newest message stored so
   * far; undefined when ingest is caught up. Liveness judges silence up to this instant only.
   */
  private behindAtMs: number | undefined;
  /** Duplicate detection for heartbeats and metric samples when they leave no raw row (derived). */
  private readonly highWater: SampleHighWater | undefined;

  constructor(private readonly d: IngestDeps) {
    this.log = d.logger.child({ component: 'ingest' });
    this.now = d.now ?? Date.now;
    if (d.rawSamples === 'derived') this.highWater = new SampleHighWater(d.db);
  }

  async start(): Promise<void> {
    await this.ensureConsumer();
    await this.recoverUnacked();
    this.loop = this.run().catch((err: unknown) => this.log.error({ err }, 'ingest loop failed'));
  }

  private async ensureConsumer(): Promise<void> {
    const config = {
      durable_name: this.d.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.d.ackWaitMs ?? 30_000),
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

  /**
   * A controller killed (SIGKILL, OOM, power) while it held delivered messages, or before its
   * acks left the socket, leaves them ack-pending on the durable consumer: JetStream redelivers
   * them only when ack_wait (30 s) runs out. For half a minute after the restart those events
   * were missing although everything after them was stored (the delivery test timed out
   * waiting for them). At start, before consuming, the unacked range of the consumer
   * (ack floor .. last delivered) is read back from the stream by sequence and stored; storing
   * is idempotent by event id, so their redelivery, or a message that was in fact acked or
   * belongs to a live replica sharing the consumer, is counted as a duplicate and acked.
   * Best effort: on any failure the redelivery still comes.
   */
  private async recoverUnacked(): Promise<void> {
    let from = 0;
    let to = 0;
    try {
      const info = await this.d.jsm.consumers.info(this.d.stream, this.d.durable);
      if (info.num_ack_pending === 0) return;
      from = info.ack_floor.stream_seq + 1;
      // Twice the prefetch of a run killed under a backlog; beyond that the redelivery does it
      // (an ack floor stuck far behind must not hold the start up).
      const max = Math.max(this.d.maxBatch * 8, 1024);
      to = Math.min(info.delivered.stream_seq, from + max - 1);
      if (to < from) return;
      const msgs = await this.readRange(from, to);
      if (msgs.length === 0) return;
      const now = this.now();
      const acc = this.store(msgs, now, true);
      this.stats.recovered += msgs.length;
      this.afterCommit(acc, now);
      this.log.info({ ackPending: info.num_ack_pending, fromSeq: from, toSeq: to, messages: msgs.length, events: acc.events }, 'messages a previous run received but never acked are stored now, not after ack_wait');
    } catch (err) {
      this.log.warn({ err, fromSeq: from, toSeq: to }, 'could not read back the unacked messages of a previous run; they are redelivered after ack_wait');
    }
  }

  /**
   * The event messages of stream sequences from..to, in one pull of a short-lived ephemeral
   * consumer that needs no acks (a request per sequence was seconds for a wide range). Messages
   * gone meanwhile (max_age, max_bytes) are simply not there.
   */
  private async readRange(from: number, to: number): Promise<IngestMsg[]> {
    const ci = await this.d.jsm.consumers.add(this.d.stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      filter_subject: EVENT_SUBJECTS,
      mem_storage: true,
      inactive_threshold: nanos(30_000),
    });
    const msgs: IngestMsg[] = [];
    try {
      // num_pending counts what the stream holds from `from` on: the pull ends when it has them,
      // past `to` when some of the range is gone, without waiting for `expires`.
      const want = Math.min(to - from + 1, ci.num_pending);
      if (want <= 0) return msgs;
      const consumer = await jetstream(this.d.nc).consumers.get(this.d.stream, ci.name);
      const fetched = await consumer.fetch({ max_messages: want, expires: 5000 });
      for await (const m of fetched) {
        if (m.seq > to) break;
        msgs.push({ subject: m.subject, seq: m.seq, data: m.data, info: { timestampNanos: m.info.timestampNanos } });
        if (m.seq === to || this.stopped) break;
      }
    } finally {
      await this.d.jsm.consumers.delete(this.d.stream, ci.name).catch(() => undefined);
    }
    return msgs;
  }

  private async run(): Promise<void> {
    const js = jetstream(this.d.nc);
    let failures = 0;
    while (!this.stopped) {
      try {
        const consumer = await js.consumers.get(this.d.stream, this.d.durable);
        this.messages = await consumer.consume({ max_messages: ingestPrefetch(this.d.maxBatch), expires: PULL_EXPIRES_MS });
        // stop() during the awaits above found no messages to close: on a quiet stream the loop
        // below would then wait for a message forever, and stop() with it. Closed here, the loop
        // ends at once (close() settles when the iteration has ended, so it is not awaited).
        if (this.stopped) this.messages.close().catch(() => undefined);
        let batch: JsMsg[] = [];
        let timer: NodeJS.Timeout | undefined;
        // One store at a time, in arrival order: a linger flush and a full-batch flush queue up here.
        let storing: Promise<void> = Promise.resolve();
        const flush = (): Promise<void> => {
          if (timer) clearTimeout(timer);
          timer = undefined;
          if (batch.length === 0) return storing;
          const b = batch;
          batch = [];
          // process() handles store failures itself (nak, redelivery); anything else is logged, and the
          // unacked messages come back after ack_wait.
          storing = storing.then(() => this.process(b)).catch((err: unknown) => this.log.error({ err, messages: b.length }, 'storing a batch failed; its messages will be redelivered'));
          return storing;
        };
        const linger = this.d.lingerMs ?? INGEST_LINGER_MS;
        for await (const m of this.messages) {
          batch.push(m);
          // Commit when the batch is full, or `linger` ms after the first message of a batch:
          // a commit per message (what a fleet publishing a few messages every millisecond gave)
          // cost most of ingest's CPU in SQLite commits. The timer is armed whatever getPending()
          // says: it also counts the consumer's own queued pull requests, so after the last
          // message of a burst it was often > 0, no timer was set, and that partial batch waited
          // for the next message — at the end of a backlog, ack_wait (30 s) and a redelivery.
          if (batch.length >= this.d.maxBatch) await flush();
          else if (linger <= 0 && this.messages.getPending() === 0) await flush();
          else timer ??= setTimeout(() => void flush(), Math.max(0, linger));
          if (this.stopped) break;
        }
        await flush();
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
    // One transaction per turn of the event loop. Delivered messages wait in the consumer's
    // buffer (two batches) and the for-await loop and the store chain hand them over in
    // microtasks: behind a backlog, batches ran back to back without HTTP requests, timers
    // (liveness) or acks getting a turn — on a starved machine a second or more.
    if (this.d.yieldBetweenBatches !== false) await new Promise<void>((r) => setImmediate(r));
    const now = this.now();
    let acc: Accumulator;
    try {
      acc = this.store(msgs, now, false);
    } catch (err) {
      this.stats.storeErrors++;
      if ((err as { code?: string }).code === 'SQLITE_CORRUPT' || (err as { code?: string }).code === 'SQLITE_NOTADB') {
        // Retrying a corrupt file every second only fills the log: stop pulling (the stream keeps
        // the messages unacked) and let the owner degrade with a message that says what to do.
        this.corrupt ??= err as Error;
        this.stopped = true;
        for (const m of msgs) m.nak();
        this.log.error({ err }, 'database is corrupt; ingest stopped (messages stay in the stream)');
        this.d.onCorrupt?.(err as Error);
        void this.messages?.close().catch(() => undefined);
        return;
      }
      this.log.error({ err, messages: msgs.length }, 'event store transaction failed; messages will be redelivered');
      for (const m of msgs) m.nak(1000);
      await sleep(1000);
      return;
    }
    for (const m of msgs) {
      m.ack();
      if (m.redelivered) this.stats.redelivered++;
    }
    const last = msgs[msgs.length - 1]!;
    this.behindAtMs = last.info.pending > 0 ? Math.floor(last.info.timestampNanos / 1e6) : undefined;
    this.stats.messages += msgs.length;
    this.afterCommit(acc, now);
  }

  /** Stores messages in one transaction (throws when it fails: nothing is stored). */
  private store(msgs: IngestMsg[], now: number, recovering: boolean): Accumulator {
    const acc: Accumulator = { recovering, changes: [], stored: [], regressions: [], skews: [], rejected: [], marks: new Map(), events: 0, duplicates: 0, rejectedEvents: 0 };
    const tx = this.d.db.transaction(() => {
      for (const m of msgs) {
        const reason = this.storeMessage(m, now, acc);
        if (reason !== undefined && !recovering) {
          acc.rejected.push({ m, reason });
          this.d.events.recordRejected(now, m.subject, m.seq, reason, m.data.length);
        }
      }
      if (acc.events) this.d.events.addCounter('events_ingested', acc.events);
      if (acc.duplicates) this.d.events.addCounter('events_duplicate', acc.duplicates);
      if (acc.rejected.length) this.d.events.addCounter('messages_rejected', acc.rejected.length);
      if (acc.rejectedEvents) this.d.events.addCounter('events_rejected', acc.rejectedEvents);
      if (acc.regressions.length) this.d.events.addCounter('seq_regressions', acc.regressions.length);
    });
    tx();
    this.highWater?.commit(acc.marks);
    return acc;
  }

  /** Counts a committed transaction and tells the listeners. */
  private afterCommit(acc: Accumulator, now: number): void {
    this.stats.transactions++;
    this.stats.events += acc.events;
    this.stats.duplicates += acc.duplicates;
    this.stats.rejected += acc.rejected.length;
    this.stats.rejectedEvents += acc.rejectedEvents;
    this.stats.seqRegressions += acc.regressions.length;
    for (const r of acc.rejected) {
      this.log.warn({ subject: r.m.subject, streamSeq: r.m.seq, size: r.m.data.length, reason: r.reason }, 'malformed event message skipped');
    }
    for (const r of acc.regressions) {
      if (this.shouldWarn(`seq:${r.hostId}`, now)) this.log.warn({ ...r }, 'agent sequence went backwards; its events may be dropped as duplicates');
      this.d.onSeqRegression?.(r);
    }
    for (const k of acc.skews) {
      if (k.flagged) this.log.warn({ hostId: k.hostId, skewMs: k.skewMs }, 'agent clock is off; its timestamps are not used to order host updates');
      else this.log.info({ hostId: k.hostId, skewMs: k.skewMs }, 'agent clock back within bounds');
    }
    for (const c of acc.changes) {
      this.log.info({ hostId: c.hostId, from: c.from, to: c.to, reason: c.reason }, 'host status changed');
      this.d.onHostStatus?.(c);
    }
    if (acc.stored.length && this.d.onEvents) this.d.onEvents(acc.stored);
  }

  /**
   * How far ingest has read, on the controller's clock: `now` when caught up, else the time the
   * newest stored message entered the stream. A heartbeat still waiting in the backlog (a burst
   * of 10,000 first heartbeats, a controller restarted after minutes) is not silence.
   */
  readThrough(now: number): number {
    return this.behindAtMs === undefined ? now : Math.min(now, this.behindAtMs);
  }

  private shouldWarn(key: string, now: number): boolean {
    const last = this.lastWarned.get(key);
    if (last !== undefined && now - last < WARN_EVERY_MS) return false;
    if (this.lastWarned.size > 10_000) this.lastWarned.clear();
    this.lastWarned.set(key, now);
    return true;
  }

  /** Stores one message's events; returns why the whole message was rejected, if it was. Runs inside the transaction. */
  private storeMessage(m: IngestMsg, now: number, acc: Accumulator): string | undefined {
    const subj = parseEventSubject(m.subject);
    if (!subj) return `subject ${m.subject} is not opsfleet.ev.<kind>.<hostId>`;
    if (this.d.isRemoved?.(subj.hostId)) return `host ${subj.hostId} was removed (opsctl hosts remove): its events are rejected`;
    let decoded: ReturnType<typeof decodeAndValidateBatch>;
    try {
      decoded = decodeAndValidateBatch(m.data);
    } catch (err) {
      return (err as Error).message;
    }
    // An agent may only speak for itself under its own subject: a message with any event
    // claiming another host or kind is refused whole (spoofing, not one bad event).
    for (const e of decoded.all) {
      if (e.hostId !== subj.hostId || e.kind !== subj.kind) return `event ${e.id} (host ${e.hostId}, kind ${e.kind}) does not match subject ${m.subject}`;
    }
    const batch = decoded.events;
    for (const r of acc.recovering ? [] : decoded.rejected) {
      acc.rejectedEvents++;
      const reason = `event ${r.index} (${r.id.slice(0, 100)}): ${r.reason}`;
      this.d.events.recordRejected(now, m.subject, m.seq, reason, m.data.length);
      this.log.warn({ subject: m.subject, streamSeq: m.seq, reason }, 'malformed event skipped');
    }
    let touched = false;
    const seen = seenAt(m, now);
    const ret = this.d.retention;
    for (const e of batch) {
      const { id, hostId, instanceId, seq, tsMs, kind, ...payload } = e;
      if (this.highWater && DERIVED_KINDS.has(kind)) {
        // No raw row: what the sample updates (below and in the onEvents listeners) is all that is kept.
        if (!this.highWater.accept(e, acc.marks)) {
          acc.duplicates++;
          continue;
        }
      } else {
        const row = { id, host_id: hostId, kind, instance_id: instanceId, seq, ts_ms: tsMs, received_ms: now, payload: this.storedPayload(e, payload), ...(ret ? { expires_ms: now + (isSample(e) ? ret.samplesMs : ret.eventsMs) } : {}) };
        if (!this.d.events.insert(row)) {
          acc.duplicates++;
          // A redelivery carries the same content. Other content under a used id means the
          // instance's seq started over (its outbox was lost) or someone forged the id: the
          // event is dropped either way, so say so.
          if (!this.d.events.sameContent(row)) acc.regressions.push({ hostId, instanceId, seq, lastSeq: seq, how: 'seq reused with other content' });
          continue;
        }
      }
      acc.events++;
      acc.stored.push(e);
      if (kind === 'hb' && e.heartbeat) {
        const r = this.d.hosts.applyHeartbeat(e.heartbeat, e, seen);
        if (r.seqRegression) acc.regressions.push({ hostId, instanceId, seq, lastSeq: r.seqRegression.lastSeq, how: 'heartbeat seq went backwards' });
        if (r.skewChanged) acc.skews.push({ hostId, ...r.skewChanged });
        if (r.status !== 'same') {
          const change: HostStatusChange = { hostId, from: r.status === 'new' ? 'unknown' : 'offline', to: 'online', atMs: now, reason: r.status === 'new' ? 'first heartbeat' : 'heartbeat received' };
          this.d.events.insertControllerEvent(hostId, 'host_status', now, { from: change.from, to: change.to, reason: change.reason });
          acc.changes.push(change);
        }
      } else {
        touched = true;
      }
    }
    // A message is one host's batch: proving it alive once per message is enough.
    if (touched) this.d.hosts.touch(subj.hostId, seen);
    return undefined;
  }

  /**
   * The payload as stored. A heartbeat's inventory (~0.7 KB, the bulk of its row) is kept only
   * when it differs from the previous heartbeat's of that host, ignoring the host uptime that
   * changes every time (kept as a number): every heartbeat still shows seq, uptime and outbox
   * depth, and inventory changes stay in the history. After a controller restart the first
   * heartbeat of each host is stored whole.
   */
  private storedPayload(e: Event, payload: Omit<Event, 'id' | 'hostId' | 'instanceId' | 'seq' | 'tsMs' | 'kind'>): string {
    if (e.kind !== 'hb' || !e.heartbeat?.inventory) return JSON.stringify(payload);
    const { uptimeS, ...stable } = e.heartbeat.inventory;
    const key = JSON.stringify(stable);
    if (this.lastInventory.get(e.hostId) !== key) {
      if (this.lastInventory.size >= 100_000) this.lastInventory.clear();
      this.lastInventory.set(e.hostId, key);
      return JSON.stringify(payload);
    }
    const { inventory: _unchanged, ...rest } = e.heartbeat;
    return JSON.stringify({ ...payload, heartbeat: rest, inventoryUnchanged: true, uptimeS });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // close() waits for pulls to end; the loop then commits and acks what it holds.
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }
}
