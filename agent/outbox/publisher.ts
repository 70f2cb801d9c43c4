import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeBatchFromEncoded } from '../../shared/events/codec.js';
import type { Logger } from '../../shared/logger.js';
import { backoffDelay } from '../../shared/retry.js';
import { sleep, within } from '../../shared/lifecycle.js';
import { batchMsgId, eventSubject } from '../../shared/nats/subjects.js';
import type { OutboxRow, OutboxStore } from './outbox-store.js';

export interface PublisherOptions {
  hostId: string;
  instanceId: string;
  batchMaxEvents: number;
  batchMaxBytes: number;
  maxInFlight: number;
  publishTimeoutMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
}

interface Batch {
  firstSeq: number;
  lastSeq: number;
  kind: string;
  rows: OutboxRow[];
}

/**
 * Drains the outbox to JetStream. Consecutive events of one kind go out as one EventBatch
 * message whose Nats-Msg-Id names its seq range; up to maxInFlight batches await their acks
 * at once. An event leaves the outbox only when its batch is acked. After a failure the
 * publisher waits for everything in flight, backs off (full jitter), and resends from the
 * oldest unacked event; a batch resent with the same range is dropped by JetStream's duplicate
 * window, and every event is also unique on the controller by its id.
 */
export class OutboxPublisher {
  private js: JetStreamClient | undefined;
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private failed = false;
  private consecutiveFailures = 0;
  private readonly abort = new AbortController();
  private readonly unsubscribe: () => void;
  readonly counters = { batchesPublished: 0, eventsPublished: 0, duplicates: 0, publishErrors: 0 };
  lastError: string | undefined;
  private readonly log: Logger;

  constructor(
    private readonly store: OutboxStore,
    private readonly opts: PublisherOptions,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'outbox.publisher' });
    this.unsubscribe = store.onAppend(() => this.wake());
  }

  /** Gives the publisher a connection (the daemon connects in the background). */
  attach(nc: NatsConnection): void {
    this.js = jetstream(nc);
    this.wake();
  }

  start(): void {
    this.loopDone ??= this.loop().catch((err: unknown) => {
      this.log.error({ err }, 'outbox publisher loop failed');
    });
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private waitForWake(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private async loop(): Promise<void> {
    let cursor = 0; // highest seq handed to a publish
    while (!this.stopped) {
      if (!this.js) {
        await this.waitForWake();
        continue;
      }
      if (this.failed) {
        if (this.inFlight.size > 0) {
          await Promise.race(this.inFlight);
          continue;
        }
        this.failed = false;
        this.consecutiveFailures++;
        cursor = 0; // re-read from the oldest unacked event
        const delay = backoffDelay(this.consecutiveFailures, this.opts.retryInitialMs ?? 250, this.opts.retryMaxMs ?? 5000);
        await sleep(Math.max(delay, 50), this.abort.signal);
        continue;
      }
      let launched = false;
      if (this.inFlight.size < this.opts.maxInFlight) {
        const want = (this.opts.maxInFlight - this.inFlight.size) * this.opts.batchMaxEvents;
        const rows = this.store.peek(cursor, Math.min(want, 20_000));
        for (const batch of this.cut(rows)) {
          if (this.inFlight.size >= this.opts.maxInFlight) break;
          this.launch(batch);
          cursor = batch.lastSeq;
          launched = true;
        }
      }
      if (!launched) {
        const wake = this.waitForWake();
        if (this.inFlight.size > 0) await Promise.race([wake, ...this.inFlight]);
        else await wake;
      } else if (this.inFlight.size >= this.opts.maxInFlight) {
        await Promise.race(this.inFlight);
      }
    }
  }

  /** Splits rows into batches: one kind per batch (the kind is the subject), bounded in count and bytes. */
  private *cut(rows: OutboxRow[]): Generator<Batch> {
    let cur: Batch | undefined;
    let bytes = 0;
    for (const row of rows) {
      if (
        cur &&
        (row.kind !== cur.kind || cur.rows.length >= this.opts.batchMaxEvents || bytes + row.data.length > this.opts.batchMaxBytes || row.seq !== cur.lastSeq + 1)
      ) {
        yield cur;
        cur = undefined;
      }
      if (!cur) {
        cur = { firstSeq: row.seq, lastSeq: row.seq, kind: row.kind, rows: [] };
        bytes = 0;
      }
      cur.rows.push(row);
      cur.lastSeq = row.seq;
      bytes += row.data.length + 6;
    }
    if (cur) yield cur;
  }

  private launch(batch: Batch): void {
    const js = this.js!;
    const data = encodeBatchFromEncoded(batch.rows.map((r) => r.data));
    const msgID = batchMsgId(this.opts.hostId, this.opts.instanceId, batch.firstSeq, batch.lastSeq);
    const p: Promise<void> = js
      .publish(eventSubject(batch.kind, this.opts.hostId), data, { msgID, timeout: this.opts.publishTimeoutMs ?? 5000 })
      .then(
        (ack) => {
          this.store.ack(batch.firstSeq, batch.lastSeq);
          this.counters.batchesPublished++;
          this.counters.eventsPublished += batch.rows.length;
          if (ack.duplicate) this.counters.duplicates++;
          if (this.consecutiveFailures > 0) {
            this.log.info({ afterFailures: this.consecutiveFailures, depth: this.store.stats().depth }, 'outbox publishing resumed');
          }
          this.consecutiveFailures = 0;
          this.lastError = undefined;
        },
        (err: unknown) => {
          this.counters.publishErrors++;
          this.lastError = (err as Error).message;
          if (this.consecutiveFailures === 0 && !this.failed) {
            this.log.warn({ err: { message: (err as Error).message, name: (err as Error).name }, depth: this.store.stats().depth }, 'outbox publish failed; retrying with backoff');
          }
          this.failed = true;
        },
      )
      .finally(() => {
        this.inFlight.delete(p);
        this.wake();
      });
    this.inFlight.add(p);
  }

  /** Waits until the outbox is empty or `timeoutMs` passed; true when empty. */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.store.stats().depth === 0 && this.inFlight.size === 0) return true;
      if (!this.js) return false;
      await sleep(20);
    }
    return this.store.stats().depth === 0;
  }

  /** Stops launching; waits (bounded) for batches in flight so their acks are recorded. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.unsubscribe();
    this.wake();
    await within(Promise.allSettled([...this.inFlight, this.loopDone ?? Promise.resolve()]), graceMs);
  }
}
