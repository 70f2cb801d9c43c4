import { defaultHaId } from './lease.js';
import { randomUUID } from 'node:crypto';
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type ConsumerMessages, type JsMsg, type StreamConfig } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type Database from 'better-sqlite3';
import { errorLine, OpsError } from '../../shared/errors.js';
import { sleep, within } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { NoControlLog, type ControlLog, type ControlRecord } from './control-log.js';
import type { ControllerConfig } from '../../shared/config/controller.js';
import { PULL_EXPIRES_MS } from '../../shared/nats/stream.js';

export const CONTROL_STREAM = 'OPSFLEET_CONTROL';
export const CONTROL_SUBJECT_PREFIX = 'opsfleet.ctl.';
/** Records older than this leave the stream; a controller away longer must be seeded from a backup. */
export const CONTROL_MAX_AGE_MS = 30 * 86_400_000;
/**
 * The stream's size limit. Set, not unlimited: a JetStream server reserves each stream's
 * max_bytes from its max_file_store, and an unlimited stream is refused once the event stream
 * reserved the rest. ~250,000 records of ~500 bytes; the oldest go first (`missed` says so).
 */
export const CONTROL_MAX_BYTES = 128 * 1024 * 1024;

const KIND = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/;
const ORIGIN = /^[A-Za-z0-9_-]{1,128}$/;
/** How often one record is tried before it is skipped (logged, counted): a poison record must not stall the log. */
const APPLY_ATTEMPTS = 3;

export interface JetStreamControlLogOptions {
  /** This controller's `ha.id`: the origin of what it publishes, and its durable consumer `ctl-<id>`. */
  id: string;
  db: Database.Database;
  logger: Logger;
  /** `stream.replicas`: the control stream is as durable as the event stream. */
  replicas: number;
  stream?: string;
  maxAgeMs?: number;
  now?: () => number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A record as it arrives: a claim to be checked, not trusted. */
export function parseControlRecord(data: Uint8Array, subject: string): ControlRecord {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `control record on ${subject} is not JSON: ${errorLine(err)}`);
  }
  const r = v as Partial<ControlRecord> | null;
  const bad = (what: string) => new OpsError('OPS_ERR_HA_CONTROL_INVALID', `control record on ${subject}: ${what}`);
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw bad('expected an object');
  if (typeof r.id !== 'string' || r.id.length === 0 || r.id.length > 200) throw bad('id: expected a string of 1..200 characters');
  if (typeof r.origin !== 'string' || !ORIGIN.test(r.origin)) throw bad('origin: expected an ha.id');
  if (typeof r.kind !== 'string' || !KIND.test(r.kind)) throw bad('kind: expected dotted lower-case words');
  if (subject !== CONTROL_SUBJECT_PREFIX + r.kind) throw bad(`kind "${r.kind}" does not match the subject`);
  if (typeof r.ts !== 'number' || !Number.isFinite(r.ts)) throw bad('ts: expected ms since epoch');
  if (!('body' in r)) throw bad('body: missing');
  return r as ControlRecord;
}

/**
 * The control log on JetStream (docs/scaling.md, "Control log"). A change this controller made
 * is first written to `control_outbox` in SQLite (sync, so a change is never lost between its
 * commit and a NATS outage), then published on `opsfleet.ctl.<kind>` with Nats-Msg-Id = record
 * id and deleted from the outbox once the stream stored it. Records of other controllers are
 * read through the durable consumer `ctl-<id>` in stream order, one at a time, and applied by
 * the handler registered for their kind; `control_applied` keeps their ids so a redelivery (a
 * crash between apply and ack, a republish outside the stream's duplicate window) applies once.
 *
 * Handlers must be idempotent on their own too (natural keys): the id is recorded after the
 * handler returns, so a crash in between applies the record again at the next start.
 */
/** The largest control record (its JSON): under NATS's default 1 MiB max_payload with room for headers. */
export const MAX_CONTROL_RECORD_BYTES = 768 * 1024;

export class JetStreamControlLog implements ControlLog {
  readonly stream: string;
  readonly durable: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly maxAgeMs: number;
  private readonly handlers = new Map<string, (rec: ControlRecord) => void | Promise<void>>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly s;
  private nc: NatsConnection | undefined;
  private messages: ConsumerMessages | undefined;
  private loops: Promise<unknown>[] = [];
  private wake: (() => void) | undefined;
  private readonly abort = new AbortController();
  private started = false;
  private running = false;
  private lastError: string | undefined;
  private stopping: Promise<void> | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  readonly stats = { published: 0, publishErrors: 0, applied: 0, own: 0, duplicates: 0, unknownKind: 0, malformed: 0, failed: 0 };
  /** Records this controller never saw because they aged out of the stream before it read them (0: none). */
  missed = 0;

  constructor(private readonly o: JetStreamControlLogOptions) {
    if (!ORIGIN.test(o.id)) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `ha.id "${o.id}": letters, digits, _ and - only`);
    this.stream = o.stream ?? CONTROL_STREAM;
    this.durable = `ctl-${o.id}`;
    this.log = o.logger.child({ component: 'ha.control-log', id: o.id });
    this.now = o.now ?? Date.now;
    this.maxAgeMs = o.maxAgeMs ?? CONTROL_MAX_AGE_MS;
    const db = o.db;
    this.s = {
      enqueue: db.prepare('INSERT INTO control_outbox (id, kind, ts_ms, body) VALUES (?, ?, ?, ?)'),
      pending: db.prepare<[], { seq: number; id: string; kind: string; body: string }>('SELECT seq, id, kind, body FROM control_outbox ORDER BY seq LIMIT 100'),
      sent: db.prepare('DELETE FROM control_outbox WHERE id = ?'),
      outboxSize: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM control_outbox'),
      isApplied: db.prepare<[string], { id: string }>('SELECT id FROM control_applied WHERE id = ?'),
      applied: db.prepare('INSERT OR IGNORE INTO control_applied (id, kind, origin, applied_ms) VALUES (?, ?, ?, ?)'),
      prune: db.prepare('DELETE FROM control_applied WHERE applied_ms < ?'),
      readAt: db.prepare<[string], { seq: number }>('SELECT stream_seq AS seq FROM control_cursor WHERE stream = ?'),
      read: db.prepare('INSERT INTO control_cursor (stream, stream_seq) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET stream_seq = max(stream_seq, excluded.stream_seq)'),
    };
  }

  get id(): string {
    return this.o.id;
  }

  on<B>(kind: string, apply: (rec: ControlRecord<B>) => void | Promise<void>): void {
    if (!KIND.test(kind)) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `control record kind "${kind}": expected dotted lower-case words`);
    if (this.handlers.has(kind)) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `control record kind "${kind}" has a handler already`);
    this.handlers.set(kind, apply as (rec: ControlRecord) => void | Promise<void>);
  }

  /**
   * Queues the record durably (before NATS is even connected, if need be) and resolves when the
   * stream stored it. Rejects only when the log stops first: the record then stays in the outbox
   * and goes out at the next start.
   */
  publish<B>(kind: string, body: B): Promise<void> {
    if (!KIND.test(kind)) return Promise.reject(new OpsError('OPS_ERR_HA_CONTROL_INVALID', `control record kind "${kind}": expected dotted lower-case words`));
    const rec: ControlRecord<B> = { id: randomUUID(), origin: this.o.id, kind, ts: this.now(), body };
    const json = JSON.stringify(rec);
    // Refused here, for every kind: a record over NATS's max_payload would never be stored and
    // would hold up every later record in the outbox.
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_CONTROL_RECORD_BYTES) return Promise.reject(new OpsError('OPS_ERR_HA_CONTROL_INVALID', `control record ${kind} is ${bytes} bytes, over the ${MAX_CONTROL_RECORD_BYTES} a record may have: not replicated, the change stays on this controller`));
    this.s.enqueue.run(rec.id, kind, rec.ts, json);
    const p = new Promise<void>((resolve, reject) => this.waiters.set(rec.id, { resolve, reject }));
    this.wake?.();
    return p;
  }

  /** Records waiting to be published. */
  outboxSize(): number {
    return this.s.outboxSize.get()!.n;
  }

  /**
   * Ensures the stream and this controller's consumer (retrying until it works or stop(): the
   * controller's API and ingest do not wait on it), then publishes the outbox and applies others'
   * records. Resolves once running, or when stopped first.
   */
  async start(nc: NatsConnection): Promise<void> {
    if (this.started) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', 'control log started twice');
    this.started = true;
    this.nc = nc;
    for (let failures = 1; !this.abort.signal.aborted; failures++) {
      try {
        await this.setup(nc);
        this.lastError = undefined;
        return;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.lastError = `control stream ${this.stream} unavailable: ${errorLine(err)}`;
        this.log.error({ err, failures }, 'control stream unavailable; retrying');
        await sleep(Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)), this.abort.signal);
      }
    }
  }

  /** For /healthz: running or why not, what waits to go out, what was applied. */
  state(): { running: boolean; error?: string; outbox: number; missed: number; stats: JetStreamControlLog['stats'] } {
    return { running: this.running, ...(this.lastError ? { error: this.lastError } : {}), outbox: this.outboxSize(), missed: this.missed, stats: { ...this.stats } };
  }

  private async setup(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    const cfg: Partial<StreamConfig> & { name: string; subjects: string[] } = {
      name: this.stream,
      subjects: [`${CONTROL_SUBJECT_PREFIX}>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(this.maxAgeMs),
      max_bytes: CONTROL_MAX_BYTES,
      // The server refuses a duplicate window longer than max_age.
      duplicate_window: nanos(Math.min(120_000, this.maxAgeMs)),
      num_replicas: this.o.replicas,
    };
    try {
      await jsm.streams.info(this.stream);
      await jsm.streams.update(this.stream, cfg);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) await jsm.streams.add(cfg);
      else throw err;
    }
    let ackFloor = 0;
    try {
      ackFloor = (await jsm.consumers.info(this.stream, this.durable)).ack_floor.stream_seq;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
      await jsm.consumers.add(this.stream, {
        durable_name: this.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        // Also how long records wait after a restart: the stopped instance's last pull request
        // may still take records the server then redelivers only after ack_wait.
        ack_wait: nanos(10_000),
        // One record in flight: a record redelivered (after a restart, or a nak) can never be
        // overtaken by a later one, so a create is applied before its revoke. Control records
        // are few; one round trip each is plenty.
        max_ack_pending: 1,
        filter_subject: `${CONTROL_SUBJECT_PREFIX}>`,
      });
    }
    const first = (await jsm.streams.info(this.stream)).state.first_seq;
    // What this controller last handled, from its own database; the ack floor only for a
    // database from before the cursor existed (the server may move the floor past a record
    // delivered to a stopped instance that then aged out: it was never read here).
    const lastRead = this.s.readAt.get(this.stream)?.seq ?? ackFloor;
    if (first > lastRead + 1) {
      // Records between what this controller read and the oldest kept aged out unseen: its
      // control-plane state may lack them. Loud, not fatal: the operator seeds it from a backup.
      this.missed = first - lastRead - 1;
      this.log.error({ missed: this.missed, firstSeq: first, lastRead, ackFloor }, 'control records aged out of the stream before this controller read them; seed it from a backup of the leader (docs/scaling.md)');
    }
    if (this.abort.signal.aborted) return;
    this.loops = [this.pumpLoop().catch((err: unknown) => this.log.error({ err }, 'control log publisher failed')), this.applyLoop().catch((err: unknown) => this.log.error({ err }, 'control log consumer failed'))];
    const prune = () => {
      try {
        this.s.prune.run(this.now() - this.maxAgeMs);
      } catch (err) {
        this.log.error({ err }, 'pruning control_applied failed');
      }
    };
    prune();
    this.pruneTimer = setInterval(prune, 3_600_000);
    this.pruneTimer.unref();
    this.running = true;
    this.log.info({ stream: this.stream, durable: this.durable, outbox: this.outboxSize() }, 'control log running');
  }

  private async pumpLoop(): Promise<void> {
    const js = jetstream(this.nc!);
    let failures = 0;
    while (!this.abort.signal.aborted) {
      const rows = this.s.pending.all();
      if (rows.length === 0) {
        // publish() and stop() wake it.
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      for (const r of rows) {
        if (this.abort.signal.aborted) return;
        try {
          await js.publish(CONTROL_SUBJECT_PREFIX + r.kind, r.body, { msgID: r.id, timeout: 5000 });
        } catch (err) {
          failures++;
          this.stats.publishErrors++;
          if (failures === 1 || failures % 20 === 0) this.log.warn({ err, failures, outbox: this.outboxSize() }, 'publishing a control record failed; retrying');
          await sleep(Math.min(5000, 200 * 2 ** Math.min(failures, 5)), this.abort.signal);
          break;
        }
        failures = 0;
        this.s.sent.run(r.id);
        this.stats.published++;
        const w = this.waiters.get(r.id);
        this.waiters.delete(r.id);
        w?.resolve();
      }
    }
  }

  private async applyLoop(): Promise<void> {
    const js = jetstream(this.nc!);
    let failures = 0;
    while (!this.abort.signal.aborted) {
      try {
        const consumer = await js.consumers.get(this.stream, this.durable);
        this.messages = await consumer.consume({ max_messages: 256, expires: PULL_EXPIRES_MS });
        if (this.abort.signal.aborted) break;
        for await (const m of this.messages) {
          await this.handle(m);
          failures = 0;
          if (this.abort.signal.aborted) break;
        }
      } catch (err) {
        if (this.abort.signal.aborted) break;
        failures++;
        this.log.warn({ err, failures }, 'control log consumer interrupted; retrying');
        await sleep(Math.min(5000, 250 * 2 ** Math.min(failures, 5)), this.abort.signal);
      }
    }
  }

  /** Applies one record (in stream order: the loop awaits each before the next). */
  private async handle(m: JsMsg): Promise<void> {
    let rec: ControlRecord;
    try {
      rec = parseControlRecord(m.data, m.subject);
    } catch (err) {
      this.stats.malformed++;
      this.log.error({ err, subject: m.subject, streamSeq: m.seq }, 'malformed control record skipped');
      this.done(m);
      return;
    }
    if (rec.origin === this.o.id) {
      this.stats.own++;
      this.done(m);
      return;
    }
    if (this.s.isApplied.get(rec.id)) {
      this.stats.duplicates++;
      this.done(m);
      return;
    }
    const fn = this.handlers.get(rec.kind);
    if (!fn) {
      // A newer controller's kind: this one cannot apply it (upgrade both controllers together).
      this.stats.unknownKind++;
      this.log.warn({ kind: rec.kind, record: rec.id, origin: rec.origin }, 'control record of an unknown kind skipped');
      this.done(m);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await fn(rec);
        this.s.applied.run(rec.id, rec.kind, rec.origin, this.now());
        this.stats.applied++;
        this.done(m);
        return;
      } catch (err) {
        if (attempt >= APPLY_ATTEMPTS || this.abort.signal.aborted) {
          // Stopping: leave it unacked (redelivered at the next start). Else skip it loudly so
          // one record that cannot apply does not stall every later one.
          if (this.abort.signal.aborted) return;
          this.stats.failed++;
          this.log.error({ err, kind: rec.kind, record: rec.id, origin: rec.origin, streamSeq: m.seq }, 'applying a control record failed; skipped');
          this.done(m);
          return;
        }
        m.working();
        await sleep(250 * 2 ** attempt, this.abort.signal);
      }
    }
  }

  /** Records the read position (before the ack: a crash between them re-reads, never skips), then acks. */
  private done(m: JsMsg): void {
    this.s.read.run(this.stream, m.seq);
    m.ack();
  }

  /** Stops publishing and applying; idempotent. Unpublished records stay in the outbox. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.wake?.();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    // Bounded: closing a consumer whose connection is gone may never settle.
    if (this.messages) await within(this.messages.close().catch(() => undefined), 1000);
    await within(Promise.all(this.loops), 3000);
    for (const [id, w] of this.waiters) w.reject(new OpsError('OPS_ERR_HA_CONTROL_STOPPED', `control log stopped before record ${id} was published; it stays in the outbox`, { retryable: true }));
    this.waiters.clear();
  }
}

/** What the controller holds: the log plus its lifecycle (NATS arrives after the API is up). */
export interface ManagedControlLog extends ControlLog {
  start(nc: NatsConnection): Promise<void>;
  stop(): Promise<void>;
  /** Undefined with HA off. */
  state(): ReturnType<JetStreamControlLog['state']> | undefined;
}

/** `ha.id`, or the same hostname-derived default the lease uses (one id per controller). */
export function controllerHaId(cfg: Pick<ControllerConfig, 'ha'>): string {
  return cfg.ha.id ?? defaultHaId();
}

/**
 * The control log for this controller: on JetStream when `ha.enabled`, else `NoControlLog`
 * (publishing does nothing, nothing is consumed). Built before NATS connects: changes made
 * meanwhile wait in the outbox.
 */
export function createControlLog(cfg: ControllerConfig, db: Database.Database, logger: Logger): ManagedControlLog {
  if (!cfg.ha.enabled) return { ...NoControlLog, start: async () => {}, stop: async () => {}, state: () => undefined };
  return new JetStreamControlLog({ id: controllerHaId(cfg), db, logger, replicas: cfg.stream.replicas });
}
