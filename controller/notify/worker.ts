import { errorLine, OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { backoffDelay } from '../../shared/retry.js';
import { DEFAULT_MAX_RETRY_AFTER_MS } from './http.js';
import type { NotifyStore } from './notify-store.js';
import { RateLimiter } from './rate-limiter.js';
import { mergeMentions } from './mentions.js';
import type { Mentions, NotificationGroup, OutgoingMessage, Receiver, SendResult } from './types.js';

/** A notification waiting for its receiver: one group's state plus what to record when delivered. */
export interface PendingNotification {
  /** The receiver the route named (kept when the fallback delivers it). */
  receiver: string;
  group: NotificationGroup;
  firingFps: string[];
  resolvedFps: string[];
  /** @mentions the route asks for (firing notifications only). */
  mentions?: Mentions | undefined;
  /** Set on the groups of one alert storm (alerts/dispatcher.ts): they leave in one message. */
  storm?: string;
}

export interface WorkerDeps {
  receiver: Receiver;
  store: NotifyStore;
  logger: Logger;
  retry: { attempts: number; initial: number; max: number; max_retry_after?: number };
  now?: () => number;
  /** Called after a message carrying these notifications was accepted by the channel. */
  onDelivered: (items: PendingNotification[], via: string) => void;
  /**
   * Hears a message that exhausted its retries or failed permanently; `wasFallback` when it was
   * itself a fallback delivery (which must not cascade further). Returns true when handed on.
   */
  onFailed?: (items: PendingNotification[], from: string, wasFallback: boolean) => boolean;
  /**
   * True when another worker holds this notification right now (the fallback receiver delivering
   * it after this one failed): a group flush meanwhile must not start it over here.
   */
  heldElsewhere?: (item: PendingNotification) => boolean;
  /** Upper bound of waiting notifications; beyond it the oldest are merged anyway (they are one digest). */
  maxPending?: number;
}

export interface WorkerStats {
  queued: number;
  sent: number;
  digests: number;
  merged: number;
  attempts: number;
  retries: number;
  failed: number;
  fallbacks: number;
  paused: number;
  /** Answers with a Retry-After that the receiver waited for. */
  retryAfter: number;
  maxInWindow: number;
}

type Entry = { item: PendingNotification; fallbackFrom?: string };
const keyOf = (item: PendingNotification) => `${item.group.groupKey}\u0000${item.receiver}`;

/**
 * Delivers notifications for one receiver: at most rate_limit.count messages per window, the
 * backlog of a burst merged into one digest (never dropped), retries with full-jitter backoff on
 * retryable errors, a pause when the platform bans the robot, a log row for every attempt, and
 * the fallback receiver after the last failed attempt. One send at a time per receiver.
 */
export class ReceiverWorker {
  readonly name: string;
  readonly limiter: RateLimiter;
  readonly stats: WorkerStats = { queued: 0, sent: 0, digests: 0, merged: 0, attempts: 0, retries: 0, failed: 0, fallbacks: 0, paused: 0, retryAfter: 0, maxInWindow: 0 };
  /**
   * Waiting notifications by (group, receiver), oldest first. A Map keeps insertion order and
   * replacing a key keeps its place, so enqueue, replace and take-from-front are O(1) each: a
   * burst of 10,000 groups re-flushed every second costs 10,000 map writes, not 10^8 compares.
   */
  private queue = new Map<string, Entry>();
  /**
   * Notifications being sent right now, by (group, receiver). A group flush that comes while its
   * notification is in flight (a slow channel, retries, a loaded machine) carries the same
   * alerts because the state is recorded only after delivery: queueing it again would send the
   * group twice.
   */
  private readonly inFlight = new Map<string, PendingNotification>();
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private pausedUntil = 0;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly d: WorkerDeps) {
    this.name = d.receiver.name;
    const rl = (d.receiver.config as { rate_limit: { count: number; per: number } }).rate_limit;
    this.limiter = new RateLimiter(rl.count, rl.per);
    this.log = d.logger.child({ component: 'notify', receiver: this.name, type: d.receiver.type });
    this.now = d.now ?? Date.now;
  }

  get type(): string {
    return this.d.receiver.type;
  }

  /** What the receiver would send for `msg` (rendered with its current template), without sending. */
  preview(msg: OutgoingMessage): unknown {
    return this.d.receiver.preview(msg);
  }

  get pending(): number {
    return this.queue.size;
  }

  get pausedMs(): number {
    return Math.max(0, this.pausedUntil - this.now());
  }

  /** Queues a notification; a newer state of the same group replaces the waiting one in its place. O(1). */
  enqueue(item: PendingNotification, fallbackFrom?: string): void {
    if (this.abort.signal.aborted) return;
    const k = keyOf(item);
    const sending = this.inFlight.get(k);
    if (sending && !fallbackFrom && sameContent(sending, item) && !this.queue.has(k)) return;
    if (!fallbackFrom && !this.queue.has(k) && this.d.heldElsewhere?.(item)) return;
    if (!this.queue.has(k)) this.stats.queued++;
    this.queue.set(k, { item, ...(fallbackFrom ? { fallbackFrom } : {}) });
    this.kick();
  }

  /**
   * Makes sure a drain will run. A drain that is running or already scheduled is left alone:
   * re-arming the timer on every enqueue let a steady stream of flushes push the drain back
   * forever (issue 20 item 2). The scheduled time is the limiter's or the pause's, which new
   * notifications do not change.
   */
  private kick(delayMs = 0): void {
    if (this.busy || this.timer || this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.drain().catch((err: unknown) => this.log.error({ err }, 'notification worker failed'));
    }, delayMs);
  }

  /** Whether this worker is sending or holds this very notification (same group, receiver and alerts). */
  holds(item: PendingNotification): boolean {
    const k = keyOf(item);
    const f = this.inFlight.get(k);
    if (f && sameContent(f, item)) return true;
    const q = this.queue.get(k);
    return q !== undefined && sameContent(q.item, item);
  }

  /** Removes and returns every waiting notification of one alert storm (one message for all). */
  private takeStorm(storm: string): Entry[] {
    const out: Entry[] = [];
    for (const [k, e] of this.queue) {
      if (e.item.storm !== storm) continue;
      out.push(e);
      this.queue.delete(k);
    }
    return out;
  }

  /** Removes and returns the `n` oldest waiting notifications. */
  private takeFront(n: number): Entry[] {
    const out: Entry[] = [];
    for (const [k, e] of this.queue) {
      if (out.length >= n) break;
      out.push(e);
      this.queue.delete(k);
    }
    return out;
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.size > 0 && !this.abort.signal.aborted) {
        const now = this.now();
        if (this.pausedUntil > now) {
          this.busy = false;
          return this.kick(this.pausedUntil - now);
        }
        const wait = this.limiter.waitMs(now);
        if (wait > 0) {
          this.busy = false;
          return this.kick(wait);
        }
        // A burst larger than what the window still allows becomes one digest of everything
        // waiting: the robot's limit is never exceeded and nothing is dropped.
        const max = this.d.maxPending ?? 10_000;
        const size = this.queue.size;
        const take = size > this.limiter.remaining(now) || size > max ? size : 1;
        const front = this.queue.values().next().value as Entry;
        await this.deliver(take === 1 && front.item.storm !== undefined ? this.takeStorm(front.item.storm) : this.takeFront(take));
        // Let timers (group flushes, /healthz) run between two sends of a long backlog.
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.busy = false;
    }
  }

  private message(batch: Entry[]): OutgoingMessage {
    const groups = batch.map((b) => b.item.group);
    const from = batch.find((b) => b.fallbackFrom)?.fallbackFrom;
    const mentions = mergeMentions(batch.map((b) => b.item.mentions));
    const m = mentions ? { mentions } : {};
    if (batch.length > 1) return { kind: 'digest', groups, merged: batch.length, ...m, ...(from ? { failedReceiver: from } : {}) };
    if (from) return { kind: 'fallback', groups, merged: 1, failedReceiver: from, ...m };
    return { kind: 'notify', groups, merged: 1, ...m };
  }

  private async deliver(batch: Entry[]): Promise<void> {
    for (const b of batch) this.inFlight.set(keyOf(b.item), b.item);
    try {
      await this.deliverOnce(batch);
    } finally {
      for (const b of batch) if (this.inFlight.get(keyOf(b.item)) === b.item) this.inFlight.delete(keyOf(b.item));
    }
  }

  private async deliverOnce(batch: Entry[]): Promise<void> {
    const msg = this.message(batch);
    const items = batch.map((b) => b.item);
    const attempts = this.d.retry.attempts;
    for (let attempt = 1; ; attempt++) {
      const now = this.now();
      const wait = Math.max(this.limiter.waitMs(now), this.pausedUntil - now);
      if (wait > 0) await sleepAbortable(wait, this.abort.signal);
      if (this.abort.signal.aborted) return;
      const res = await this.attempt(msg, attempt);
      if (res.ok) {
        this.stats.sent++;
        if (msg.kind === 'digest') {
          this.stats.digests++;
          this.stats.merged += msg.merged;
        }
        this.d.onDelivered(items, this.name);
        return;
      }
      const err = res.err;
      // Stopping aborted the request: the notification state keeps it for after a restart.
      if (this.abort.signal.aborted) return;
      if (err.pauseMs > 0) {
        // Banned: stay quiet for the pause, keep the messages (they go out as a digest later).
        this.pausedUntil = this.now() + err.pauseMs;
        this.stats.paused++;
        this.log.warn({ pauseMs: err.pauseMs, code: err.code }, 'receiver paused by the platform; notifications kept');
        this.requeueFront(batch);
        return;
      }
      if (!err.retryable || attempt >= attempts) {
        this.stats.failed++;
        this.log.error({ code: err.code, attempts: attempt, err: errorLine(err) }, 'notification failed; giving up');
        const wasFallback = batch.some((b) => b.fallbackFrom);
        if (this.d.onFailed?.(items, this.name, wasFallback) === true) this.stats.fallbacks++;
        return;
      }
      this.stats.retries++;
      if (err.retryAfterMs !== undefined) {
        // The channel said when to come back (429/503 Retry-After): the whole receiver waits,
        // bounded so one answer cannot silence it for long.
        const ms = Math.min(err.retryAfterMs, this.d.retry.max_retry_after ?? DEFAULT_MAX_RETRY_AFTER_MS);
        this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
        this.stats.retryAfter++;
      }
      const delay = backoffDelay(attempt - 1, this.d.retry.initial, this.d.retry.max);
      this.log.warn({ code: err.code, attempt, delayMs: delay, err: errorLine(err) }, 'notification failed; retrying');
      await sleepAbortable(delay, this.abort.signal);
      if (this.abort.signal.aborted) return;
    }
  }

  /** Puts a batch back in front unless a newer state of the same group arrived meanwhile (rare: after a ban). */
  private requeueFront(batch: Entry[]): void {
    const next = new Map<string, Entry>();
    for (const b of batch) if (!this.queue.has(keyOf(b.item))) next.set(keyOf(b.item), b);
    for (const [k, e] of this.queue) next.set(k, e);
    this.queue = next;
  }

  /** One send, logged; returns the typed error instead of throwing. */
  private async attempt(msg: OutgoingMessage, attempt: number): Promise<{ ok: true; res: SendResult } | { ok: false; err: WorkerError }> {
    const started = this.now();
    this.limiter.record(started);
    this.stats.attempts++;
    this.stats.maxInWindow = Math.max(this.stats.maxInWindow, this.limiter.inWindow);
    const base = {
      ts_ms: started,
      receiver: this.name,
      kind: msg.kind,
      group_keys: JSON.stringify(msg.groups.map((g) => g.groupKey)),
      status: msg.groups.some((g) => g.firing.length > 0) ? 'firing' : 'resolved',
      alerts: msg.groups.reduce((s, g) => s + g.firing.length + g.resolved.length, 0),
      merged: msg.merged,
      attempt,
    };
    try {
      const res = await this.d.receiver.send(msg, this.abort.signal);
      this.d.store.log({ ...base, outcome: 'ok', code: '', detail: res.truncated ? `${res.detail} (${res.truncated} alerts truncated)` : res.detail, bytes: res.bytes, duration_ms: this.now() - started });
      this.log.info({ kind: msg.kind, groups: msg.groups.length, merged: msg.merged, attempt, bytes: res.bytes, truncated: res.truncated }, 'notification sent');
      return { ok: true, res };
    } catch (e) {
      const err = toNotifyError(e);
      const outcome = err.pauseMs > 0 ? 'paused' : err.retryable && attempt < this.d.retry.attempts ? 'retry' : 'failed';
      this.d.store.log({ ...base, outcome, code: err.code, detail: err.message.slice(0, 500), bytes: 0, duration_ms: this.now() - started });
      return { ok: false, err };
    }
  }

  /** Sends a test message now, bypassing queue and limiter bookkeeping except the log row. */
  async test(msg: OutgoingMessage): Promise<{ ok: boolean; detail: string; code?: string }> {
    const r = await this.attempt(msg, 1);
    return r.ok ? { ok: true, detail: r.res.detail } : { ok: false, detail: r.err.message, code: r.err.code };
  }

  /** Stops sending; waiting notifications stay in the notification state and are re-sent after a restart. */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    this.d.receiver.close?.();
  }
}

/** Same alerts in the same states: a re-flush of what is being sent. */
function sameContent(a: PendingNotification, b: PendingNotification): boolean {
  const eq = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return a.group.status === b.group.status && eq(a.firingFps, b.firingFps) && eq(a.resolvedFps, b.resolvedFps);
}

type WorkerError = OpsError & { pauseMs: number; retryAfterMs: number | undefined };

function toNotifyError(e: unknown): WorkerError {
  if (e instanceof OpsError) return Object.assign(e, { pauseMs: (e as { pauseMs?: number }).pauseMs ?? 0, retryAfterMs: (e as { retryAfterMs?: number }).retryAfterMs });
  const err = new OpsError('OPS_ERR_NOTIFY_INTERNAL', (e as Error)?.message ?? String(e), { cause: e });
  return Object.assign(err, { pauseMs: 0, retryAfterMs: undefined });
}

function sleepAbortable(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
